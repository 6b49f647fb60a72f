// What the api-keys module publishes after a revocation commits.
export type ApiKeysTopics = {
  /** Every revocation, for every instance's authentication cache, sockets and subscriptions. */
  'keys:revoked': [payload: { keyId: string }];
};
