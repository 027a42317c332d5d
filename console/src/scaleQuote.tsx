// The scale form's preview: the API's own quote of the scale
// (PATCH /clusters/{id}?dry_run=true), asked a moment after the count last
// changed — what it would reserve or release and leave, and every reason it
// would be refused.
import { useEffect, useState } from 'react';
import { api, type QuoteAnswer } from './api.ts';
import { fmt } from './ui.tsx';

export function ScaleQuote(props: { clusterId: number; count: number | null }) {
  const [quote, setQuote] = useState<QuoteAnswer | null>(null);
  useEffect(() => {
    setQuote(null);
    if (props.count === null) return;
    let gone = false;
    const t = window.setTimeout(() => {
      api<QuoteAnswer>('PATCH', `/api/v1/clusters/${props.clusterId}?dry_run=true`, { instance_count: props.count }).then(
        (r) => !gone && setQuote(r.body),
        () => !gone && setQuote(null),
      );
    }, 250);
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [props.clusterId, props.count]);
  if (!quote) return null;
  const r = quote.reservation;
  const releases = r.cpu < 0 || r.memory < 0 || r.instances < 0;
  const abs = (n: number) => fmt(Math.abs(n));
  return (
    <div className="small" data-testid="scale-quote" role="status">
      <p>
        {releases ? 'Would release' : 'Would reserve'}: {abs(r.cpu)} CPU, {abs(r.memory)} GB, {Math.abs(r.instances)} instance(s)
        {r.storage_gb !== 0 ? `, ${Math.abs(r.storage_gb)} GB of storage` : ''}. Would remain: {fmt(quote.remaining.cpu)} CPU, {fmt(quote.remaining.memory)} GB,{' '}
        {quote.remaining.instances} instance(s).
      </p>
      {!quote.allowed && (
        <ul className="small" data-testid="scale-quote-reasons">
          {quote.reasons.map((x, k) => (
            <li key={k}>{x.message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
