// Counts of the HTTP requests this daemon sent, by S3 operation, and the body bytes they moved.
// Tests and the status report read them to check request economy (e.g. "a lookup of a missing
// name costs one request") and transfer volume.

export interface RequestStatsSnapshot {
  total: number;
  failed: number;
  byOperation: Record<string, number>;
  /** Request body bytes sent, retries included. */
  bytesSent: number;
  /** Response body bytes received, as the responses' Content-Length announced them. */
  bytesReceived: number;
}

/** One HTTP attempt, as an observer (the metrics endpoint) sees it. */
export interface RequestRecord {
  operation: string;
  ok: boolean;
  /** The HTTP status, or the error's code when there was none. */
  status: number | string;
  seconds: number;
  sent: number;
  received: number;
}

export interface RequestObserver {
  request(r: RequestRecord): void;
  /** An attempt failed and the request goes again. */
  retry(operation: string): void;
}

export class RequestStats {
  private readonly byOperation = new Map<string, number>();
  total = 0;
  failed = 0;
  bytesSent = 0;
  bytesReceived = 0;
  /** Set when metrics are on (--metrics). */
  observer: RequestObserver | undefined;

  record(operation: string, ok: boolean, bytes: { sent?: number; received?: number } = {}, detail?: { status: number | string; seconds: number }): void {
    this.total++;
    if (!ok) this.failed++;
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
    this.bytesSent += bytes.sent ?? 0;
    this.bytesReceived += bytes.received ?? 0;
    if (this.observer && detail) {
      this.observer.request({ operation, ok, status: detail.status, seconds: detail.seconds, sent: bytes.sent ?? 0, received: bytes.received ?? 0 });
    }
  }

  retried(operation: string): void {
    this.observer?.retry(operation);
  }

  snapshot(): RequestStatsSnapshot {
    return {
      total: this.total,
      failed: this.failed,
      byOperation: Object.fromEntries(this.byOperation),
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
    };
  }
}
