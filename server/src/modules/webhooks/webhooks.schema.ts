// GraphQL for webhook endpoints and their deliveries. Every field is tenant ADMIN or operator;
// a signing secret appears only in CreateWebhookEndpointPayload, once per creation or rotation.
import { scopeOf } from '../../auth/scope';
import { builder } from '../../graphql/builder';
import type { DeliveryView } from './webhooks.service';
import type { AttemptRow, EndpointRow } from './webhooks.types';

const WebhookEndpointRef = builder.objectRef<EndpointRow>('WebhookEndpoint').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.exposeID('tenantId'),
    url: t.exposeString('url'),
    eventTypes: t.exposeStringList('eventTypes', { description: 'Empty: every event type.' }),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreateWebhookEndpointPayloadRef = builder
  .objectRef<{ endpoint: EndpointRow; secret: string }>('CreateWebhookEndpointPayload')
  .implement({
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpointRef, resolve: (p) => p.endpoint }),
      secret: t.exposeString('secret', { description: 'whsec_..., shown once.' }),
    }),
  });

const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  values: ['PENDING', 'DELIVERED', 'FAILED'] as const,
});

const WebhookAttemptOutcomeEnum = builder.enumType('WebhookAttemptOutcome', {
  description: 'What one delivery attempt came to.',
  values: {
    SUCCESS: { description: 'A 2xx answer.' },
    HTTP_ERROR: { description: 'An answer outside 2xx and 3xx.' },
    REDIRECT: { description: 'A 3xx answer: redirects are not followed.' },
    TIMEOUT: { description: 'No complete answer within the timeout (10 s by default).' },
    CONNECTION_REFUSED: { description: 'Nothing listened at the address.' },
    DNS_FAILURE: { description: 'The host name did not resolve.' },
    ADDRESS_NOT_ALLOWED: {
      description:
        'The host is (or resolves to) a loopback, private, link-local, unique-local, multicast or otherwise non-public address; nothing was sent.',
    },
    NETWORK_ERROR: { description: 'The connection failed otherwise (reset, TLS, ...).' },
  } as const,
});

const WebhookAttemptRef = builder.objectRef<AttemptRow>('WebhookAttempt').implement({
  description: "One attempt of a delivery, as the append-only attempt log keeps it (never the receiver's body).",
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt.' }),
    at: t.expose('at', { type: 'DateTime' }),
    durationMs: t.exposeInt('durationMs'),
    outcome: t.field({ type: WebhookAttemptOutcomeEnum, resolve: (a) => a.outcome }),
    responseStatus: t.exposeInt('responseStatus', { nullable: true }),
    error: t.exposeString('error', { nullable: true, description: 'Why, when the attempt got no answer.' }),
  }),
});

const WebhookDeliveryRef = builder.objectRef<DeliveryView>('WebhookDelivery').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (d) => d.endpoint }),
    eventId: t.exposeID('eventId', { description: 'The webhook-id header.' }),
    eventType: t.exposeString('eventType'),
    status: t.field({ type: WebhookDeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    lastResponseStatus: t.exposeInt('lastResponseStatus', {
      nullable: true,
      description: 'HTTP status of the last attempt, null when it got none.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attemptLog: t.field({
      type: [WebhookAttemptRef],
      description: "Every attempt's outcome, oldest first.",
      resolve: (d, _, ctx) => ctx.loaders.webhookAttempts.load(d.id),
    }),
  }),
});

const WebhookDeliveryEdge = builder.objectRef<{ cursor: string; node: DeliveryView }>('WebhookDeliveryEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: WebhookDeliveryRef, resolve: (e) => e.node }),
  }),
});
const WebhookDeliveryConnection = builder
  .objectRef<{
    edges: { cursor: string; node: DeliveryView }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('WebhookDeliveryConnection')
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [WebhookDeliveryEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: 'PageInfo' as never, resolve: (c) => c.pageInfo as never }),
    }),
  });

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    tenantId: t.id(),
    url: t.string({ required: true, description: 'http or https, at most 2048 characters.' }),
    eventTypes: t.stringList({ defaultValue: [] }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    url: t.string(),
    eventTypes: t.stringList(),
    enabled: t.boolean(),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    type: [WebhookEndpointRef],
    description: 'Tenant ADMIN or operator.',
    args: { tenantId: t.arg.id() },
    authScopes: { admin: true },
    resolve: (_, args, ctx) => ctx.services.webhooks.endpoints(scopeOf(ctx.principal), args.tenantId),
  }),
  webhookDeliveries: t.field({
    type: WebhookDeliveryConnection,
    description: 'Newest first.',
    args: {
      endpointId: t.arg.id({ required: true }),
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
    },
    complexity: (args) => ({ field: 1, multiplier: Math.max(1, Math.min(args.first ?? 50, 500)) }),
    authScopes: { admin: true },
    resolve: (_, args, ctx) => ctx.services.webhooks.deliveries(scopeOf(ctx.principal), args),
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreateWebhookEndpointPayloadRef,
    description: 'Tenant ADMIN, or operator with tenantId. The signing secret is returned once.',
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_, { input }, ctx) => ctx.services.webhooks.create(scopeOf(ctx.principal), input),
  }),
  updateWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    args: { input: t.arg({ type: UpdateWebhookEndpointInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_, { input }, ctx) => ctx.services.webhooks.update(scopeOf(ctx.principal), input),
  }),
  deleteWebhookEndpoint: t.boolean({
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: (_, { id }, ctx) => ctx.services.webhooks.remove(scopeOf(ctx.principal), id),
  }),
  rotateWebhookSecret: t.field({
    type: CreateWebhookEndpointPayloadRef,
    description: 'A new secret, returned once; the old one stops signing at once.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: (_, { id }, ctx) => ctx.services.webhooks.rotate(scopeOf(ctx.principal), id),
  }),
  redeliverWebhook: t.field({
    type: WebhookDeliveryRef,
    description: "Sends the delivery's event again, as a new attempt with the same webhook-id.",
    args: { deliveryId: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: (_, { deliveryId }, ctx) => ctx.services.webhooks.redeliver(scopeOf(ctx.principal), deliveryId),
  }),
}));
