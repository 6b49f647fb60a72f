// npm run schema: rewrites schema/schema.graphql from the Pothos builder.
import { writeFileSync } from 'node:fs';
import { printedSchema } from '../schema';

const target = new URL('../../../schema/schema.graphql', import.meta.url);
writeFileSync(target, printedSchema());
console.log(`wrote ${target.pathname}`);
