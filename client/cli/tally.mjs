#!/usr/bin/env node
// The `tally` command. Loads the TypeScript sources through tsx (a dependency of the
// package), so it runs from a checkout without a build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
