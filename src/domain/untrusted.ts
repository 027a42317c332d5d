// Text from objects others can write (Kubernetes statuses and errors) is
// capped, and rid of control characters, before it is stored or shown.

const MAX_MESSAGE = 500;

export function capMessage(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > MAX_MESSAGE ? `${clean.slice(0, MAX_MESSAGE - 1)}…` : clean;
}
