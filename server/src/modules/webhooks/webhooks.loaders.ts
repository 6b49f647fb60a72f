// Each delivery's attempt log for one request, one statement per tick (composed in server/src/loaders.ts).
import DataLoader from 'dataloader';
import type { WebhooksService } from './webhooks.service';
import type { AttemptRow } from './webhooks.types';

export const webhookAttemptsLoader = (webhooks: WebhooksService) =>
  new DataLoader<string, AttemptRow[]>((ids) => webhooks.attemptsOf(ids));
