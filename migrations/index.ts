// Every migration, in order. Listed explicitly (not globbed) so that tsx, vitest and any
// bundler load them the same way. Append new ones; never edit or reorder merged ones.
import { Init1763769600000 } from './1763769600000-Init';
import { Quota1763856000000 } from './1763856000000-Quota';
import { KeyRollups1763942400000 } from './1763942400000-KeyRollups';
import { RollupFillfactor1764028800000 } from './1764028800000-RollupFillfactor';
import { LedgerReferences1764115200000 } from './1764115200000-LedgerReferences';
import { DailyRollups1764201600000 } from './1764201600000-DailyRollups';
import { TenantZoneKept1764288000000 } from './1764288000000-TenantZoneKept';
import { TenantCurrency1764374400000 } from './1764374400000-TenantCurrency';
import { RuntimeRole1764376200000 } from './1764376200000-RuntimeRole';
import { PriceTiers1764400000000 } from './1764400000000-PriceTiers';
import { SubjectPlans1764410000000 } from './1764410000000-SubjectPlans';
import { RollupStatusAndMinutes1764420000000 } from './1764420000000-RollupStatusAndMinutes';
import { QuotaLeases1764430000000 } from './1764430000000-QuotaLeases';
import { Webhooks1764440000000 } from './1764440000000-Webhooks';
import { Credits1764450000000 } from './1764450000000-Credits';
import { ReservationTenantStats1764460000000 } from './1764460000000-ReservationTenantStats';

export const migrations = [
  Init1763769600000,
  Quota1763856000000,
  KeyRollups1763942400000,
  RollupFillfactor1764028800000,
  LedgerReferences1764115200000,
  DailyRollups1764201600000,
  TenantZoneKept1764288000000,
  TenantCurrency1764374400000,
  RuntimeRole1764376200000,
  PriceTiers1764400000000,
  SubjectPlans1764410000000,
  RollupStatusAndMinutes1764420000000,
  QuotaLeases1764430000000,
  Webhooks1764440000000,
  Credits1764450000000,
  ReservationTenantStats1764460000000,
];
