// What a replica hears of changes made by any replica: the interfaces the
// event streams, ?wait= requests, the reconciler and the token cache listen
// through. The implementation is src/service/notifications.ts (PostgreSQL
// notifications); without one, each of them polls.

export type ChangeNotifier = {
  /** True while changes are heard; false: they may be missed, and listeners poll. */
  readonly up: boolean;
  /**
   * Calls `onChange` with the id of each cluster that changes from now on,
   * and with null when anything may have changed unheard (the notification
   * connection dropped or came back). Returns the unsubscribe.
   */
  subscribe(onChange: (clusterId: number | null) => void): () => void;
};
