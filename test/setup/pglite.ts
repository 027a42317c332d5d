// Vitest global setup: the migrated embedded database the tests start from
// (test/support/pgliteImage.ts), made once before the workers start rather
// than by several of them at once.
import { ensureMigratedImage } from '../support/pgliteImage.ts';

export default async function setup(): Promise<void> {
  await ensureMigratedImage();
}
