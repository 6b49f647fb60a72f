// API keys by id for one request, one statement per tick (composed in server/src/loaders.ts).
import { idLoader } from '../../graphql/context';
import type { ApiKeysService } from './api-keys.service';

export const apiKeyLoader = (apiKeys: ApiKeysService) => idLoader(apiKeys.byIds.bind(apiKeys));
