/**
 * A lazily loaded value that an invalidation drops. A load that was already running when an
 * invalidation arrived is handed to its callers but not kept, so the next read reloads.
 */
export class ReloadingCache<T> {
  private value?: Promise<T>;
  private generation = 0;

  constructor(private readonly load: () => Promise<T>) {}

  invalidate(): void {
    this.generation++;
    this.value = undefined;
  }

  get(): Promise<T> {
    if (this.value) return this.value;
    const gen = this.generation;
    const p = this.load();
    this.value = p;
    p.then(
      () => {
        if (gen !== this.generation && this.value === p) this.value = undefined;
      },
      () => {
        if (this.value === p) this.value = undefined;
      },
    );
    return p;
  }
}
