/* eslint-disable */
/* prettier-ignore */

export type introspection_types = {
  ApiKey: {
    kind: 'OBJECT';
    name: 'ApiKey';
    fields: {
      createdAt: {
        name: 'createdAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      lastUsedAt: { name: 'lastUsedAt'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      limits: {
        name: 'limits';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Limit'; ofType: null } };
          };
        };
      };
      name: {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      prefix: {
        name: 'prefix';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      revokedAt: { name: 'revokedAt'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      scopes: {
        name: 'scopes';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'ApiKeyScope'; ofType: null } };
          };
        };
      };
      tenant: {
        name: 'tenant';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Tenant'; ofType: null } };
      };
      usage: {
        name: 'usage';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageTotals'; ofType: null } };
      };
    };
  };
  ApiKeyScope: { name: 'ApiKeyScope'; enumValues: 'ADMIN' | 'INGEST' | 'READ' };
  AssignPlanInput: {
    kind: 'INPUT_OBJECT';
    name: 'AssignPlanInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'planCode';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'startsAt'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null }; defaultValue: null },
      {
        name: 'tenantId';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
        defaultValue: null;
      },
    ];
  };
  AuthorizeUsageInput: {
    kind: 'INPUT_OBJECT';
    name: 'AuthorizeUsageInput';
    isOneOf: false;
    inputFields: [
      { name: 'apiKeyId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
      {
        name: 'estimate';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: { kind: 'INPUT_OBJECT'; name: 'UsageEstimateInput'; ofType: null };
        };
        defaultValue: null;
      },
      { name: 'reserveSeconds'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
    ];
  };
  AuthorizeUsagePayload: {
    kind: 'OBJECT';
    name: 'AuthorizeUsagePayload';
    fields: {
      allowed: {
        name: 'allowed';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
      deniedBy: { name: 'deniedBy'; type: { kind: 'OBJECT'; name: 'QuotaItem'; ofType: null } };
      quota: {
        name: 'quota';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaStatus'; ofType: null } };
      };
      reservation: { name: 'reservation'; type: { kind: 'OBJECT'; name: 'Reservation'; ofType: null } };
    };
  };
  BigInt: unknown;
  Boolean: unknown;
  CreateApiKeyInput: {
    kind: 'INPUT_OBJECT';
    name: 'CreateApiKeyInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'scopes';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'ApiKeyScope'; ofType: null } };
          };
        };
        defaultValue: null;
      },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
    ];
  };
  CreateApiKeyPayload: {
    kind: 'OBJECT';
    name: 'CreateApiKeyPayload';
    fields: {
      apiKey: {
        name: 'apiKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      };
      secret: {
        name: 'secret';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
    };
  };
  CreateTenantInput: {
    kind: 'INPUT_OBJECT';
    name: 'CreateTenantInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'planCode'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'timezone'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: '"UTC"' },
    ];
  };
  DateTime: unknown;
  Decimal: unknown;
  Granularity: { name: 'Granularity'; enumValues: 'DAY' | 'HOUR' | 'MONTH' | 'WEEK' };
  ID: unknown;
  Int: unknown;
  JSON: unknown;
  Limit: {
    kind: 'OBJECT';
    name: 'Limit';
    fields: {
      action: {
        name: 'action';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitAction'; ofType: null } };
      };
      amount: {
        name: 'amount';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      metric: {
        name: 'metric';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitMetric'; ofType: null } };
      };
      period: {
        name: 'period';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitPeriod'; ofType: null } };
      };
      scope: {
        name: 'scope';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitScope'; ofType: null } };
      };
      thresholds: {
        name: 'thresholds';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
          };
        };
      };
    };
  };
  LimitAction: { name: 'LimitAction'; enumValues: 'ALERT' | 'BLOCK' };
  LimitInput: {
    kind: 'INPUT_OBJECT';
    name: 'LimitInput';
    isOneOf: false;
    inputFields: [
      { name: 'action'; type: { kind: 'ENUM'; name: 'LimitAction'; ofType: null }; defaultValue: 'BLOCK' },
      {
        name: 'amount';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'metric';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitMetric'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'period';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'LimitPeriod'; ofType: null } };
        defaultValue: null;
      },
      { name: 'scope'; type: { kind: 'ENUM'; name: 'LimitScope'; ofType: null }; defaultValue: 'TENANT' },
      {
        name: 'thresholds';
        type: {
          kind: 'LIST';
          name: never;
          ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
        };
        defaultValue: '[80, 100]';
      },
    ];
  };
  LimitMetric: {
    name: 'LimitMetric';
    enumValues: 'ASR_SECONDS' | 'COST' | 'INPUT_TOKENS' | 'OUTPUT_TOKENS' | 'REQUESTS' | 'TOKENS';
  };
  LimitPeriod: { name: 'LimitPeriod'; enumValues: 'DAY' | 'MONTH' | 'TOTAL' };
  LimitScope: { name: 'LimitScope'; enumValues: 'API_KEY' | 'SUBJECT' | 'TENANT' };
  Membership: {
    kind: 'OBJECT';
    name: 'Membership';
    fields: {
      endsAt: { name: 'endsAt'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      plan: {
        name: 'plan';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Plan'; ofType: null } };
      };
      startsAt: {
        name: 'startsAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      tenant: {
        name: 'tenant';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Tenant'; ofType: null } };
      };
    };
  };
  ModelSource: { name: 'ModelSource'; enumValues: 'BYOK' | 'VENDOR' };
  Mutation: {
    kind: 'OBJECT';
    name: 'Mutation';
    fields: {
      assignPlan: {
        name: 'assignPlan';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Membership'; ofType: null } };
      };
      authorizeUsage: {
        name: 'authorizeUsage';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: { kind: 'OBJECT'; name: 'AuthorizeUsagePayload'; ofType: null };
        };
      };
      createApiKey: {
        name: 'createApiKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'CreateApiKeyPayload'; ofType: null } };
      };
      createTenant: {
        name: 'createTenant';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'CreateApiKeyPayload'; ofType: null } };
      };
      recordUsage: {
        name: 'recordUsage';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'RecordUsagePayload'; ofType: null } };
      };
      recordUsageBatch: {
        name: 'recordUsageBatch';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: { kind: 'OBJECT'; name: 'RecordUsageBatchPayload'; ofType: null };
        };
      };
      releaseReservation: {
        name: 'releaseReservation';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
      reverseUsage: {
        name: 'reverseUsage';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'RecordUsagePayload'; ofType: null } };
      };
      revokeApiKey: {
        name: 'revokeApiKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      };
      setApiKeyLimits: {
        name: 'setApiKeyLimits';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      };
      setPrice: {
        name: 'setPrice';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Price'; ofType: null } };
      };
      upsertPlan: {
        name: 'upsertPlan';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Plan'; ofType: null } };
      };
    };
  };
  PageInfo: {
    kind: 'OBJECT';
    name: 'PageInfo';
    fields: {
      endCursor: { name: 'endCursor'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      hasNextPage: {
        name: 'hasNextPage';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
    };
  };
  Plan: {
    kind: 'OBJECT';
    name: 'Plan';
    fields: {
      code: {
        name: 'code';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      limits: {
        name: 'limits';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Limit'; ofType: null } };
          };
        };
      };
      name: {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
    };
  };
  Price: {
    kind: 'OBJECT';
    name: 'Price';
    fields: {
      cacheWriteInputPerMillion: {
        name: 'cacheWriteInputPerMillion';
        type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null };
      };
      cachedInputPerMillion: { name: 'cachedInputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      currency: {
        name: 'currency';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      effectiveFrom: {
        name: 'effectiveFrom';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      effectiveTo: { name: 'effectiveTo'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      inputPerMillion: { name: 'inputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      model: {
        name: 'model';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      outputPerMillion: { name: 'outputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      perRequest: { name: 'perRequest'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      perSecond: { name: 'perSecond'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      perUnit: { name: 'perUnit'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      provider: {
        name: 'provider';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      tenantId: { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
    };
  };
  Query: {
    kind: 'OBJECT';
    name: 'Query';
    fields: {
      plans: {
        name: 'plans';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Plan'; ofType: null } };
          };
        };
      };
      prices: {
        name: 'prices';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Price'; ofType: null } };
          };
        };
      };
      quotaAlerts: {
        name: 'quotaAlerts';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaAlertConnection'; ofType: null } };
      };
      quotaStatus: {
        name: 'quotaStatus';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaStatus'; ofType: null } };
      };
      quote: {
        name: 'quote';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Quote'; ofType: null } };
      };
      tenant: { name: 'tenant'; type: { kind: 'OBJECT'; name: 'Tenant'; ofType: null } };
      usageEvents: {
        name: 'usageEvents';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageEventConnection'; ofType: null } };
      };
      usageSummary: {
        name: 'usageSummary';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageSummary'; ofType: null } };
      };
      viewer: {
        name: 'viewer';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Viewer'; ofType: null } };
      };
    };
  };
  QuotaAlert: {
    kind: 'OBJECT';
    name: 'QuotaAlert';
    fields: {
      apiKeyId: { name: 'apiKeyId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
      crossedAt: {
        name: 'crossedAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      limit: {
        name: 'limit';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Limit'; ofType: null } };
      };
      periodStart: { name: 'periodStart'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      subject: { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      tenantId: {
        name: 'tenantId';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
      };
      threshold: {
        name: 'threshold';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      used: {
        name: 'used';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
    };
  };
  QuotaAlertConnection: {
    kind: 'OBJECT';
    name: 'QuotaAlertConnection';
    fields: {
      edges: {
        name: 'edges';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaAlertEdge'; ofType: null } };
          };
        };
      };
      pageInfo: {
        name: 'pageInfo';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'PageInfo'; ofType: null } };
      };
    };
  };
  QuotaAlertEdge: {
    kind: 'OBJECT';
    name: 'QuotaAlertEdge';
    fields: {
      cursor: {
        name: 'cursor';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      node: {
        name: 'node';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaAlert'; ofType: null } };
      };
    };
  };
  QuotaItem: {
    kind: 'OBJECT';
    name: 'QuotaItem';
    fields: {
      exceeded: {
        name: 'exceeded';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
      limit: {
        name: 'limit';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Limit'; ofType: null } };
      };
      periodEnd: { name: 'periodEnd'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      periodStart: { name: 'periodStart'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      remaining: {
        name: 'remaining';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      reserved: {
        name: 'reserved';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      scopeId: { name: 'scopeId'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      used: {
        name: 'used';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
    };
  };
  QuotaStatus: {
    kind: 'OBJECT';
    name: 'QuotaStatus';
    fields: {
      apiKeyId: { name: 'apiKeyId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
      blocked: {
        name: 'blocked';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
      items: {
        name: 'items';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaItem'; ofType: null } };
          };
        };
      };
      subject: { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      tenantId: {
        name: 'tenantId';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
      };
    };
  };
  Quote: {
    kind: 'OBJECT';
    name: 'Quote';
    fields: {
      cost: {
        name: 'cost';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      currency: {
        name: 'currency';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      price: { name: 'price'; type: { kind: 'OBJECT'; name: 'Price'; ofType: null } };
    };
  };
  QuoteInput: {
    kind: 'INPUT_OBJECT';
    name: 'QuoteInput';
    isOneOf: false;
    inputFields: [
      { name: 'at'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null }; defaultValue: null },
      { name: 'cacheWriteInputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'cachedInputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'durationMs'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
      { name: 'inputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      {
        name: 'kind';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'UsageKind'; ofType: null } };
        defaultValue: null;
      },
      { name: 'model'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'outputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'provider'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'quantity'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
    ];
  };
  RecordOutcome: { name: 'RecordOutcome'; enumValues: 'CONFLICT' | 'CREATED' | 'DUPLICATE' | 'INVALID' };
  RecordUsageBatchPayload: {
    kind: 'OBJECT';
    name: 'RecordUsageBatchPayload';
    fields: {
      created: {
        name: 'created';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      duplicates: {
        name: 'duplicates';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      rejected: {
        name: 'rejected';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      results: {
        name: 'results';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: {
              kind: 'NON_NULL';
              name: never;
              ofType: { kind: 'OBJECT'; name: 'RecordUsageResult'; ofType: null };
            };
          };
        };
      };
    };
  };
  RecordUsageInput: {
    kind: 'INPUT_OBJECT';
    name: 'RecordUsageInput';
    isOneOf: false;
    inputFields: [
      { name: 'apiKeyId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
      { name: 'cacheWriteInputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'cachedInputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'cost'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'currency'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'durationMs'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
      {
        name: 'idempotencyKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'inputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      {
        name: 'kind';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'UsageKind'; ofType: null } };
        defaultValue: null;
      },
      { name: 'latencyMs'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
      { name: 'metadata'; type: { kind: 'SCALAR'; name: 'JSON'; ofType: null }; defaultValue: null },
      { name: 'model'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'modelSource'; type: { kind: 'ENUM'; name: 'ModelSource'; ofType: null }; defaultValue: 'VENDOR' },
      { name: 'occurredAt'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null }; defaultValue: null },
      { name: 'outputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'provider'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'quantity'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'reasoningTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '0' },
      { name: 'reservationId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
      { name: 'sessionId'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'status'; type: { kind: 'ENUM'; name: 'UsageStatus'; ofType: null }; defaultValue: 'SUCCEEDED' },
      { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
    ];
  };
  RecordUsagePayload: {
    kind: 'OBJECT';
    name: 'RecordUsagePayload';
    fields: {
      event: {
        name: 'event';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageEvent'; ofType: null } };
      };
      outcome: {
        name: 'outcome';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'RecordOutcome'; ofType: null } };
      };
    };
  };
  RecordUsageResult: {
    kind: 'OBJECT';
    name: 'RecordUsageResult';
    fields: {
      error: { name: 'error'; type: { kind: 'OBJECT'; name: 'UserError'; ofType: null } };
      event: { name: 'event'; type: { kind: 'OBJECT'; name: 'UsageEvent'; ofType: null } };
      index: {
        name: 'index';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      outcome: {
        name: 'outcome';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'RecordOutcome'; ofType: null } };
      };
    };
  };
  Reservation: {
    kind: 'OBJECT';
    name: 'Reservation';
    fields: {
      estimate: {
        name: 'estimate';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageTotals'; ofType: null } };
      };
      expiresAt: {
        name: 'expiresAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
    };
  };
  ReverseUsageInput: {
    kind: 'INPUT_OBJECT';
    name: 'ReverseUsageInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'eventId';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'idempotencyKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'reason'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
    ];
  };
  SetApiKeyLimitsInput: {
    kind: 'INPUT_OBJECT';
    name: 'SetApiKeyLimitsInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'apiKeyId';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'limits';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: {
              kind: 'NON_NULL';
              name: never;
              ofType: { kind: 'INPUT_OBJECT'; name: 'LimitInput'; ofType: null };
            };
          };
        };
        defaultValue: null;
      },
    ];
  };
  SetPriceInput: {
    kind: 'INPUT_OBJECT';
    name: 'SetPriceInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'cacheWriteInputPerMillion';
        type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null };
        defaultValue: null;
      },
      { name: 'cachedInputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'currency'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: '"USD"' },
      { name: 'effectiveFrom'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null }; defaultValue: null },
      { name: 'inputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      {
        name: 'model';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'outputPerMillion'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'perRequest'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'perSecond'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'perUnit'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      {
        name: 'provider';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
    ];
  };
  String: unknown;
  Subscription: {
    kind: 'OBJECT';
    name: 'Subscription';
    fields: {
      quotaAlerts: {
        name: 'quotaAlerts';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaAlert'; ofType: null } };
      };
      quotaUpdated: {
        name: 'quotaUpdated';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaStatus'; ofType: null } };
      };
      usageRecorded: {
        name: 'usageRecorded';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageEvent'; ofType: null } };
      };
    };
  };
  Tenant: {
    kind: 'OBJECT';
    name: 'Tenant';
    fields: {
      apiKeys: {
        name: 'apiKeys';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
          };
        };
      };
      createdAt: {
        name: 'createdAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      membership: { name: 'membership'; type: { kind: 'OBJECT'; name: 'Membership'; ofType: null } };
      name: {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      quota: {
        name: 'quota';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'QuotaStatus'; ofType: null } };
      };
      timezone: {
        name: 'timezone';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      usage: {
        name: 'usage';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageTotals'; ofType: null } };
      };
    };
  };
  UpsertPlanInput: {
    kind: 'INPUT_OBJECT';
    name: 'UpsertPlanInput';
    isOneOf: false;
    inputFields: [
      {
        name: 'code';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
      {
        name: 'limits';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: {
              kind: 'NON_NULL';
              name: never;
              ofType: { kind: 'INPUT_OBJECT'; name: 'LimitInput'; ofType: null };
            };
          };
        };
        defaultValue: null;
      },
      {
        name: 'name';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        defaultValue: null;
      },
    ];
  };
  UsageBucket: {
    kind: 'OBJECT';
    name: 'UsageBucket';
    fields: {
      apiKey: { name: 'apiKey'; type: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      kind: { name: 'kind'; type: { kind: 'ENUM'; name: 'UsageKind'; ofType: null } };
      model: { name: 'model'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      provider: { name: 'provider'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      start: { name: 'start'; type: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      subject: { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      totals: {
        name: 'totals';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageTotals'; ofType: null } };
      };
    };
  };
  UsageDimension: { name: 'UsageDimension'; enumValues: 'API_KEY' | 'KIND' | 'MODEL' | 'PROVIDER' | 'SUBJECT' };
  UsageEstimateInput: {
    kind: 'INPUT_OBJECT';
    name: 'UsageEstimateInput';
    isOneOf: false;
    inputFields: [
      { name: 'asrSeconds'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'cost'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null }; defaultValue: null },
      { name: 'inputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
      { name: 'outputTokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
      { name: 'requests'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: '1' },
      { name: 'tokens'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null }; defaultValue: null },
    ];
  };
  UsageEvent: {
    kind: 'OBJECT';
    name: 'UsageEvent';
    fields: {
      apiKey: { name: 'apiKey'; type: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      cacheWriteInputTokens: {
        name: 'cacheWriteInputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      cachedInputTokens: {
        name: 'cachedInputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      cost: {
        name: 'cost';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      currency: {
        name: 'currency';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      durationMs: { name: 'durationMs'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      id: { name: 'id'; type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'ID'; ofType: null } } };
      idempotencyKey: {
        name: 'idempotencyKey';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      inputTokens: {
        name: 'inputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      kind: {
        name: 'kind';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'UsageKind'; ofType: null } };
      };
      latencyMs: { name: 'latencyMs'; type: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      metadata: { name: 'metadata'; type: { kind: 'SCALAR'; name: 'JSON'; ofType: null } };
      model: { name: 'model'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      modelSource: {
        name: 'modelSource';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'ModelSource'; ofType: null } };
      };
      occurredAt: {
        name: 'occurredAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      outputTokens: {
        name: 'outputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      price: { name: 'price'; type: { kind: 'OBJECT'; name: 'Price'; ofType: null } };
      provider: { name: 'provider'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      quantity: { name: 'quantity'; type: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      reason: { name: 'reason'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      reasoningTokens: {
        name: 'reasoningTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
      recordedAt: {
        name: 'recordedAt';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
      };
      reverses: { name: 'reverses'; type: { kind: 'OBJECT'; name: 'UsageEvent'; ofType: null } };
      sessionId: { name: 'sessionId'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      status: {
        name: 'status';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'ENUM'; name: 'UsageStatus'; ofType: null } };
      };
      subject: { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      tenant: {
        name: 'tenant';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'Tenant'; ofType: null } };
      };
      totalTokens: {
        name: 'totalTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Int'; ofType: null } };
      };
    };
  };
  UsageEventConnection: {
    kind: 'OBJECT';
    name: 'UsageEventConnection';
    fields: {
      edges: {
        name: 'edges';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageEventEdge'; ofType: null } };
          };
        };
      };
      pageInfo: {
        name: 'pageInfo';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'PageInfo'; ofType: null } };
      };
    };
  };
  UsageEventEdge: {
    kind: 'OBJECT';
    name: 'UsageEventEdge';
    fields: {
      cursor: {
        name: 'cursor';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      node: {
        name: 'node';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageEvent'; ofType: null } };
      };
    };
  };
  UsageFilter: {
    kind: 'INPUT_OBJECT';
    name: 'UsageFilter';
    isOneOf: false;
    inputFields: [
      { name: 'apiKeyId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
      { name: 'currency'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      {
        name: 'from';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
        defaultValue: null;
      },
      { name: 'kind'; type: { kind: 'ENUM'; name: 'UsageKind'; ofType: null }; defaultValue: null },
      { name: 'model'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'provider'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'subject'; type: { kind: 'SCALAR'; name: 'String'; ofType: null }; defaultValue: null },
      { name: 'tenantId'; type: { kind: 'SCALAR'; name: 'ID'; ofType: null }; defaultValue: null },
      {
        name: 'to';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'DateTime'; ofType: null } };
        defaultValue: null;
      },
    ];
  };
  UsageKind: { name: 'UsageKind'; enumValues: 'ASR' | 'CALL' | 'LLM' };
  UsageStatus: { name: 'UsageStatus'; enumValues: 'FAILED' | 'SUCCEEDED' };
  UsageSummary: {
    kind: 'OBJECT';
    name: 'UsageSummary';
    fields: {
      buckets: {
        name: 'buckets';
        type: {
          kind: 'NON_NULL';
          name: never;
          ofType: {
            kind: 'LIST';
            name: never;
            ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageBucket'; ofType: null } };
          };
        };
      };
      totals: {
        name: 'totals';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'OBJECT'; name: 'UsageTotals'; ofType: null } };
      };
    };
  };
  UsageTotals: {
    kind: 'OBJECT';
    name: 'UsageTotals';
    fields: {
      asrMilliseconds: {
        name: 'asrMilliseconds';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      cacheWriteInputTokens: {
        name: 'cacheWriteInputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      cachedInputTokens: {
        name: 'cachedInputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      cost: {
        name: 'cost';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      currency: {
        name: 'currency';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      failedRequests: {
        name: 'failedRequests';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      inputTokens: {
        name: 'inputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      outputTokens: {
        name: 'outputTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      quantity: {
        name: 'quantity';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Decimal'; ofType: null } };
      };
      reasoningTokens: {
        name: 'reasoningTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      requests: {
        name: 'requests';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
      totalTokens: {
        name: 'totalTokens';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'BigInt'; ofType: null } };
      };
    };
  };
  UserError: {
    kind: 'OBJECT';
    name: 'UserError';
    fields: {
      code: {
        name: 'code';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
      field: {
        name: 'field';
        type: {
          kind: 'LIST';
          name: never;
          ofType: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
        };
      };
      message: {
        name: 'message';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'String'; ofType: null } };
      };
    };
  };
  Viewer: {
    kind: 'OBJECT';
    name: 'Viewer';
    fields: {
      apiKey: { name: 'apiKey'; type: { kind: 'OBJECT'; name: 'ApiKey'; ofType: null } };
      isOperator: {
        name: 'isOperator';
        type: { kind: 'NON_NULL'; name: never; ofType: { kind: 'SCALAR'; name: 'Boolean'; ofType: null } };
      };
      tenant: { name: 'tenant'; type: { kind: 'OBJECT'; name: 'Tenant'; ofType: null } };
    };
  };
};

/** An IntrospectionQuery representation of your schema.
 *
 * @remarks
 * This is an introspection of your schema saved as a file by GraphQLSP.
 * It will automatically be used by `gql.tada` to infer the types of your GraphQL documents.
 * If you need to reuse this data or update your `scalars`, update `tadaOutputLocation` to
 * instead save to a .ts instead of a .d.ts file.
 */
export type introspection = {
  name: never;
  query: 'Query';
  mutation: 'Mutation';
  subscription: 'Subscription';
  types: introspection_types;
};

import * as gqlTada from 'gql.tada';

declare module 'gql.tada' {
  interface setupSchema {
    introspection: introspection;
  }
}
