// Counts of the HTTP requests this daemon sent, by S3 operation. Tests and the status report read
// them to check request economy (e.g. "a lookup of a missing name costs one request").

export class RequestStats {
  private readonly byOperation = new Map<string, number>();
  total = 0;
  failed = 0;

  record(operation: string, ok: boolean): void {
    this.total++;
    if (!ok) this.failed++;
    this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
  }

  snapshot(): { total: number; failed: number; byOperation: Record<string, number> } {
    return { total: this.total, failed: this.failed, byOperation: Object.fromEntries(this.byOperation) };
  }
}
