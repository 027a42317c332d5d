#!/usr/bin/env node
// Launcher for the kubekloud CLI: registers tsx so the TypeScript sources run
// as they are, then hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
