// Builds the schema: imports every module's GraphQL file (for its side effects on the
// builder), then asks the builder for the schema. Nothing else lives here.
import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './graphql/builder';
import { guardInputs } from './graphql/input-guard';
import './graphql/root';
import './graphql/scalars';
import './modules/api-keys/api-keys.schema';
import './modules/tenants/tenants.schema';
import './modules/pricing/pricing.schema';
import './modules/usage/usage.schema';
import './modules/quota/quota.schema';
import './modules/webhooks/webhooks.schema';
import './modules/credits/credits.schema';

/** Every argument is checked once, before any resolver (graphql/input-guard.ts). */
export const schema = guardInputs(builder.toSchema());

/** The printed, sorted SDL kept in schema/schema.graphql. */
export const printedSchema = () => `${printSchema(lexicographicSortSchema(schema))}\n`;
