// What a notification on the replicas' shared channel says. The database's
// triggers send the first three (migrations/022_notifications.sql); replicas
// send the last two to each other.
//   c<id>              cluster <id> changed as its views show it
//   w                  there is new work for the reconcilers
//   a                  who may do what changed (tokens, users)
//   b<replica> <n>     replica asks every other: confirm you have handled everything before this
//   k<replica> <to> <n> replica confirms request <n> of replica <to>

export type Notice =
  | { kind: 'cluster'; id: number }
  | { kind: 'work' }
  | { kind: 'access' }
  | { kind: 'barrier'; from: string; seq: number }
  | { kind: 'ack'; from: string; to: string; seq: number };

export function parseNotice(payload: string): Notice | null {
  const head = payload[0];
  const rest = payload.slice(1);
  if (head === 'c') {
    const id = Number(rest);
    return Number.isInteger(id) && id > 0 ? { kind: 'cluster', id } : null;
  }
  if (payload === 'w') return { kind: 'work' };
  if (payload === 'a') return { kind: 'access' };
  const parts = rest.split(' ');
  if (head === 'b' && parts.length === 2) {
    const seq = Number(parts[1]);
    return parts[0] && Number.isInteger(seq) ? { kind: 'barrier', from: parts[0], seq } : null;
  }
  if (head === 'k' && parts.length === 3) {
    const seq = Number(parts[2]);
    return parts[0] && parts[1] && Number.isInteger(seq) ? { kind: 'ack', from: parts[0], to: parts[1], seq } : null;
  }
  return null;
}

export const barrierNotice = (from: string, seq: number): string => `b${from} ${seq}`;
export const ackNotice = (from: string, to: string, seq: number): string => `k${from} ${to} ${seq}`;
