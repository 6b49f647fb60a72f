// The root types. Fields are added by the modules.
import { builder } from './builder';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
