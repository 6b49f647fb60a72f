// A real HTTP receiver for webhook tests: node:http on 127.0.0.1, every request kept (headers
// and raw body), answered by a function the test sets (200 by default). Closed by close().
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: Record<string, string>;
  body: string;
  at: number;
}

export type Responder = (r: Received, n: number, res: ServerResponse) => void | Promise<void>;

export class Receiver {
  readonly received: Received[] = [];
  respond: Responder = (_r, _n, res) => {
    res.writeHead(200).end('ok');
  };
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(path = '/hook'): Promise<Receiver> {
    let self: Receiver | null = null;
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = {
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        const me = self as Receiver;
        me.received.push(r);
        void Promise.resolve(me.respond(r, me.received.length, res)).catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new Receiver(server, `http://127.0.0.1:${port}${path}`);
    return self;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Bodies parsed. */
  events(): { type: string; timestamp: string; data: Record<string, unknown> }[] {
    return this.received.map((r) => JSON.parse(r.body));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export const ENDPOINT_FIELDS = 'id tenantId url eventTypes enabled createdAt';
export const CREATE_ENDPOINT = `mutation C($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
export const UPDATE_ENDPOINT = `mutation U($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { ${ENDPOINT_FIELDS} } }`;
export const DELETE_ENDPOINT = 'mutation D($id: ID!) { deleteWebhookEndpoint(id: $id) }';
export const ROTATE_SECRET = `mutation R($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
export const LIST_ENDPOINTS = `query L($tenantId: ID) { webhookEndpoints(tenantId: $tenantId) { ${ENDPOINT_FIELDS} } }`;
export const DELIVERY_FIELDS = `id eventId eventType status attempts lastAttemptAt nextAttemptAt lastResponseStatus createdAt
  endpoint { id } attemptLog { attempt at durationMs outcome responseStatus error }`;
export const DELIVERIES = `query W($endpointId: ID!, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $endpointId, first: $first, after: $after) {
    edges { cursor node { ${DELIVERY_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
export const REDELIVER = `mutation RD($id: ID!) { redeliverWebhook(deliveryId: $id) { ${DELIVERY_FIELDS} } }`;
