// Where a delivery may connect (SSRF): only to public unicast addresses, judged by ipaddr.js's
// range classification after DNS resolution, and only to the very address judged (the
// request's `lookup` answers it, so a second DNS answer cannot swap in another one).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Why an address is refused (e.g. 'loopback', 'private'), or null when it is public unicast. */
export function refusedRange(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 it carries.
    parsed = ipaddr.process(address);
  } catch {
    return 'unparseable';
  }
  const range = parsed.range();
  return range === 'unicast' ? null : range;
}

export class AddressNotAllowed extends Error {
  readonly code = 'ADDRESS_NOT_ALLOWED';
  constructor(host: string, address: string, range: string) {
    super(`${host} resolves to ${address} (${range}), which deliveries may not reach`);
  }
}

/**
 * A `lookup` for http.request: resolves, keeps the addresses allowed, answers them (so the
 * socket connects to an address checked here). `allowPrivate`: every address is allowed.
 */
export function pinnedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const ok = allowPrivate ? addresses : addresses.filter((a) => refusedRange(a.address) === null);
      const first = addresses[0];
      if (!ok.length || !first) {
        const range = first ? (refusedRange(first.address) ?? 'unknown') : 'none';
        return callback(new AddressNotAllowed(hostname, first?.address ?? '-', range), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, ok);
      const a = ok[0] as LookupAddress;
      callback(null, a.address, a.family);
    });
  }) as unknown as LookupFunction;
}
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** An IP literal in a URL's host (lookup is skipped for those): checked here before connecting. */
export function literalRefusal(hostname: string, allowPrivate: boolean): AddressNotAllowed | null {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (allowPrivate || !isIP(host)) return null;
  const range = refusedRange(host);
  return range ? new AddressNotAllowed(host, host, range) : null;
}
