// tally tokens create: a subject token (createSubjectToken), for trying what an end user's page
// sees, or for a backend without the client. The token is printed once, as a key's secret is.
import { client, out, program } from './context';
import { int } from './usage';

program
  .command('tokens')
  .description("subject tokens: short-lived keys that read one end user's own usage")
  .command('create')
  .description('a token for one subject (the token is shown once); ADMIN key, or the operator with --tenant')
  .requiredOption('--subject <s>', 'the end user (or device) it reads')
  .option('--expires-in <seconds>', '1 to 86400 (default 3600)', int('--expires-in'))
  .option('--max-range-days <n>', 'no query through it may span more days (1 to 400)', int('--max-range-days'))
  .option('--tenant <id>', 'operator: the tenant')
  .action(async (o: { subject: string; expiresIn?: number; maxRangeDays?: number; tenant?: string }) => {
    const t = await client().createSubjectToken({
      tenantId: o.tenant,
      subject: o.subject,
      expiresInSeconds: o.expiresIn,
      maxRangeDays: o.maxRangeDays,
    });
    out(t, () => [`token    ${t.token}   (shown once)`, `subject  ${t.subject}`, `expires  ${t.expiresAt}`].join('\n'));
  });
