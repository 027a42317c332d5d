// Token material: generated with a CSPRNG, stored only as a SHA-256 hash.
// Tokens are high-entropy (or at least 16 chars when a client chooses one), so
// a fast hash is enough; it makes lookup one indexed equality.
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'kk_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(24).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
