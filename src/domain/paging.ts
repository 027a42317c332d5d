// Lists are paged when the client asks (?limit=&offset=) and whole when it does
// not, as the Python service's lists were. A whole list is bounded so one
// request cannot make a replica serialise an unbounded answer: past the bound
// the request is refused, with the count, rather than silently cut short.
import { invalid } from './errors.ts';

/** The most items an unpaged list answers. */
export const UNPAGED_LIST_MAX = 10_000;
/** The largest page a client may ask for (the schema's bound on ?limit=). */
export const PAGE_MAX = 500;

export type Page = { limit: number | null; offset: number };

/** What to read: the page asked for, or one more than the bound to find out whether a whole list fits. */
export function pageToRead(limit: number | undefined, offset: number | undefined): Page & { whole: boolean } {
  return limit === undefined ? { limit: UNPAGED_LIST_MAX + 1, offset: offset ?? 0, whole: true } : { limit, offset: offset ?? 0, whole: false };
}

/** Refuses a whole list that did not fit in the bound; `what` names the items ("clusters"). */
export function checkWholeList(page: { whole: boolean }, read: number, total: number | null, what: string): void {
  if (!page.whole || read <= UNPAGED_LIST_MAX) return;
  const count = total === null ? `more than ${UNPAGED_LIST_MAX}` : String(total);
  throw invalid([
    {
      loc: ['query', 'limit'],
      msg: `there are ${count} ${what}, more than the ${UNPAGED_LIST_MAX} a list without ?limit= returns; page through them with ?limit= (at most ${PAGE_MAX}) and ?offset=`,
      type: 'value_error.too_many',
    },
  ]);
}
