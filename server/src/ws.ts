// GraphQL over WebSocket (the graphql-ws protocol) on /graphql, through the same yoga/envelop
// pipeline as HTTP (armor limits, masking, context). Authentication happens once, at
// connect, from connectionParams.authorization ("Bearer tly_..." / "Bearer tsk_..." or the
// bare secret); a connection without a valid key or token is closed with 4403 before any
// operation runs. A socket is closed with 4403 when its key (or the key that minted its
// subject token) is revoked, and when its subject token expires.
import type http from 'node:http';
import { type DocumentNode, type ExecutionArgs, type GraphQLError, getOperationAST } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { App } from './app';
import { expiryOf, type Principal, revocableKeyOf } from './auth/principal';
import { unparsedDocument } from './graphql/contract-errors';
import { AppError, badInput } from './lib/errors';
import { countErrors, observeWebSocketServer } from './observability';

type Extra = Record<PropertyKey, unknown> & {
  principal?: Principal;
  secret?: string;
  socket: WebSocket;
  stopWatching?: () => void;
};

export function attachWebSocket(server: http.Server, app: App) {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: 1024 * 1024 });
  observeWebSocketServer(app.metrics, wss);
  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.authorization;
        const secret = typeof raw === 'string' ? raw.replace(/^Bearer\s+/i, '').trim() : '';
        const principal = secret ? await app.services.apiKeys.authenticate(secret) : null;
        if (!principal) return false;
        ctx.extra.principal = principal;
        ctx.extra.secret = secret;
        // A revocation published by any instance closes this key's sockets at once (a subject
        // token's: the key that minted it); a subject token's socket closes when it expires.
        const keyId = revocableKeyOf(principal);
        const unwatch = keyId
          ? app.revocations.watch(keyId, () => ctx.extra.socket.close(4403, 'API key revoked'))
          : () => {};
        const expires = expiryOf(principal);
        const timer = expires
          ? setTimeout(
              () => ctx.extra.socket.close(4403, 'subject token expired'),
              Math.min(2 ** 31 - 1, Math.max(0, expires.getTime() - app.services.now().getTime())),
            )
          : null;
        ctx.extra.stopWatching = () => {
          unwatch();
          if (timer) clearTimeout(timer);
        };
        return true;
      },
      // Errors as sent (masked), by contract code, as HTTP counts them.
      onNext: (_ctx, _id, _payload, _args, result) => void countErrors(app.metrics, result.errors),
      onError: (_ctx, _id, _payload, errors) => void countErrors(app.metrics, errors),
      onDisconnect: (ctx) => ctx.extra.stopWatching?.(),
      onClose: (ctx) => ctx.extra.stopWatching?.(),
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => never }).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        // Every operation re-checks the key (cached; a local revocation is seen at once) and a
        // token's expiry.
        const principal = ctx.extra.secret ? await app.services.apiKeys.identify(ctx.extra.secret) : null;
        if (!principal || principal instanceof AppError) {
          const refused = principal ?? new AppError('UNAUTHENTICATED', 'unknown, malformed or revoked API key');
          // The close reason is at most 123 bytes; the messages are shorter, in ASCII.
          ctx.extra.socket.close(4403, refused.message.slice(0, 120));
          return [refused];
        }
        ctx.extra.principal = principal;
        const { schema, execute, subscribe, contextFactory, parse, validate } = app.yoga.getEnveloped({
          principal: ctx.extra.principal,
          params: payload,
        });
        // A refused document (syntax, armor's token/depth/alias limits, validation) is answered
        // with an `error` message for this operation only: throwing here would close the
        // whole socket (4500) and end every other subscription on it. Validation's errors come
        // back mapped to the contract (contract-errors.ts runs in validate); a parse error is
        // mapped here, as HTTP maps it.
        let document: DocumentNode;
        try {
          document = parse(payload.query);
          const errors = validate(schema, document);
          if (errors.length) return errors as GraphQLError[];
          // graphql-ws would answer "Unable to identify operation" with no code.
          if (!getOperationAST(document, payload.operationName ?? undefined))
            return [
              badInput(
                ['operationName'],
                payload.operationName
                  ? 'operationName names no operation in the document'
                  : 'the document has several operations: name one in operationName',
              ),
            ];
        } catch (e) {
          return [unparsedDocument(e)];
        }
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );
  return {
    wss,
    async close() {
      for (const c of wss.clients) c.close(1001, 'server shutting down');
      await disposable.dispose();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
