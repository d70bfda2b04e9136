/**
 * PL/pgSQL functions for the governance hot path on PostgreSQL (part of migration 003; frozen
 * with it — a later change ships as a new migration with CREATE OR REPLACE). Each is called as
 * one statement, so every step is atomic and costs one round trip, and it re-reads what must hold
 * across nodes (key not revoked, customer active, device not revoked) inside the same statement.
 *
 * A governed call costs two round trips: kaixu_admit (key/customer re-check, device seat, rate
 * limit, cap reservation) before the upstream call, and one share of a kaixu_settle_batch after
 * it (settles arriving together are written in one statement: src/governance/caps/group-commit.ts).
 *
 * Lock order, everywhere: device (row or per-key advisory lock) → rate-limit window rows →
 * reservation rows → customer month rows (by customer id) → key month rows (by key id) →
 * api_keys rows (by id). A batch takes each group in sorted order, so two batches (two nodes) or
 * a batch and a single step never wait on each other in a cycle. The SQLite implementation
 * (src/governance/caps/sqlite.ts) keeps the same decisions, with holds in memory.
 *
 * Durability: a settle (the usage ledger — money) is durable before any of its callers is
 * answered. Admit, release, device touches and rate-limit hits are soft state and commit with
 * synchronous_commit = off for their own transaction only: each saves a WAL flush (≈ 1–2.5 ms on
 * these disks) on the hot path. A database crash can lose the last few hundred ms of them — never
 * half of one (a reservation and its hold on the monthly row commit together), and the next
 * settle's flush covers every earlier one. The cost of that trade: after a database crash, calls
 * admitted just before it may overshoot a cap by at most their own reservations.
 *
 * How a settle batch becomes durable: alone (no other call of this node in flight), it simply
 * commits synchronously — one round trip. Under load it commits with synchronous_commit = off and
 * the caller then runs a flush barrier (`select txid_current()` committed synchronously: its
 * commit record comes after the batch's in the WAL, so its flush covers the batch) before
 * resolving anyone. The reason: a synchronous commit keeps its row locks until the WAL flush
 * returns, and the customer's month rows are what every admission of that customer locks — one
 * hot customer's admissions would queue behind every settle's disk flush. With the barrier the
 * locks go at commit and only the barrier waits for the disk. Between that commit and the flush
 * other transactions may already see the batch; if the database crashed in that instant, the
 * batch is lost with no caller answered, exactly as if it had failed before committing.
 */
export const PG_FUNCTIONS = [
  // The whole admission in one statement, in the design's order; the first refusal returns and
  // nothing after it runs. `stale`: the key or customer row changed since the caller built its
  // policy (p_key_upd / p_cust_upd) — nothing was done, the caller reloads and retries.
  `CREATE OR REPLACE FUNCTION kaixu_admit(
     p_id text, p_customer text, p_key text, p_month text, p_amount bigint,
     p_install text, p_request text, p_now bigint, p_expires bigint,
     p_key_upd bigint, p_cust_upd bigint,
     p_dev_seen boolean, p_dev_ua text, p_dev_max integer,
     p_rl_buckets text[], p_rl_starts bigint[], p_rl_prev_starts bigint[], p_rl_wnum bigint[], p_rl_wden bigint[],
     p_rl_limits bigint[], p_rl_expires bigint[])
   RETURNS TABLE (o_outcome text, o_dev_outcome text, o_dev_active integer, o_rl_allowed boolean, o_rl_prev bigint[], o_rl_cur bigint[],
                  o_mode text, o_base_cap_cents bigint, o_key_cap_cents bigint, o_extra_cents bigint,
                  o_c_spent bigint, o_c_reserved bigint, o_k_spent bigint, o_k_reserved bigint)
   LANGUAGE plpgsql AS $fn$
   DECLARE
     v_active integer; v_revoked bigint; v_owner text; v_kupd bigint; v_cupd bigint; v_ccap bigint; v_kcap bigint;
   BEGIN
     PERFORM set_config('synchronous_commit', 'off', true);
     SELECT c.monthly_cap_cents, k.monthly_cap_cents, c.is_active, k.revoked_at, c.cap_mode, k.customer_id, k.updated_at, c.updated_at
       INTO o_base_cap_cents, o_key_cap_cents, v_active, v_revoked, o_mode, v_owner, v_kupd, v_cupd
       FROM api_keys k JOIN customers c ON c.id = k.customer_id WHERE k.id = p_key;
     IF NOT FOUND OR v_revoked IS NOT NULL OR v_owner <> p_customer THEN
       o_outcome := 'key_revoked'; RETURN NEXT; RETURN;
     END IF;
     IF v_kupd IS DISTINCT FROM p_key_upd OR v_cupd IS DISTINCT FROM p_cust_upd THEN
       o_outcome := 'stale'; RETURN NEXT; RETURN;
     END IF;
     IF v_active <> 1 THEN o_outcome := 'customer_disabled'; RETURN NEXT; RETURN; END IF;

     IF p_install IS NOT NULL THEN
       IF p_dev_seen THEN
         SELECT d.o_outcome, d.o_active INTO o_dev_outcome, o_dev_active
           FROM kaixu_device_seen(p_key, p_customer, p_install, p_dev_ua, p_now, p_dev_max) d;
         IF o_dev_outcome = 'revoked' THEN o_outcome := 'device_revoked'; RETURN NEXT; RETURN; END IF;
         IF o_dev_outcome = 'limit' THEN o_outcome := 'device_limit'; RETURN NEXT; RETURN; END IF;
       ELSIF EXISTS (
           SELECT 1 FROM key_devices d WHERE d.api_key_id = p_key AND d.install_id = p_install AND d.revoked_at IS NOT NULL) THEN
         o_outcome := 'device_revoked'; RETURN NEXT; RETURN;
       END IF;
     END IF;

     IF coalesce(array_length(p_rl_buckets, 1), 0) > 0 THEN
       SELECT h.o_allowed, h.o_prev, h.o_cur INTO o_rl_allowed, o_rl_prev, o_rl_cur
         FROM kaixu_rate_hit(p_rl_buckets, p_rl_starts, p_rl_prev_starts, p_rl_wnum, p_rl_wden, p_rl_limits, p_rl_expires) h;
       IF NOT o_rl_allowed THEN o_outcome := 'rate_limited'; RETURN NEXT; RETURN; END IF;
     END IF;

     SELECT m.spent_micros, m.reserved_micros, m.extra_cents INTO o_c_spent, o_c_reserved, o_extra_cents
       FROM monthly_usage m WHERE m.customer_id = p_customer AND m.month = p_month FOR UPDATE;
     IF NOT FOUND THEN
       INSERT INTO monthly_usage (customer_id, month, updated_at) VALUES (p_customer, p_month, p_now) ON CONFLICT DO NOTHING;
       SELECT m.spent_micros, m.reserved_micros, m.extra_cents INTO o_c_spent, o_c_reserved, o_extra_cents
         FROM monthly_usage m WHERE m.customer_id = p_customer AND m.month = p_month FOR UPDATE;
     END IF;
     SELECT mk.spent_micros, mk.reserved_micros INTO o_k_spent, o_k_reserved
       FROM monthly_key_usage mk WHERE mk.api_key_id = p_key AND mk.month = p_month FOR UPDATE;
     IF NOT FOUND THEN
       INSERT INTO monthly_key_usage (api_key_id, customer_id, month, updated_at) VALUES (p_key, p_customer, p_month, p_now) ON CONFLICT DO NOTHING;
       SELECT mk.spent_micros, mk.reserved_micros INTO o_k_spent, o_k_reserved
         FROM monthly_key_usage mk WHERE mk.api_key_id = p_key AND mk.month = p_month FOR UPDATE;
     END IF;

     v_ccap := (o_base_cap_cents + o_extra_cents) * 10000;
     v_kcap := COALESCE(o_key_cap_cents * 10000, v_ccap);
     IF o_mode = 'soft' THEN
       IF o_c_spent >= v_ccap THEN o_outcome := 'customer_cap';
       ELSIF o_k_spent >= v_kcap THEN o_outcome := 'key_cap';
       ELSE o_outcome := 'ok'; END IF;
       RETURN NEXT; RETURN;
     END IF;
     IF o_c_spent + o_c_reserved + p_amount > v_ccap THEN o_outcome := 'customer_cap'; RETURN NEXT; RETURN; END IF;
     IF o_k_spent + o_k_reserved + p_amount > v_kcap THEN o_outcome := 'key_cap'; RETURN NEXT; RETURN; END IF;

     UPDATE monthly_usage SET reserved_micros = reserved_micros + p_amount, updated_at = p_now
       WHERE customer_id = p_customer AND month = p_month;
     UPDATE monthly_key_usage SET reserved_micros = reserved_micros + p_amount, updated_at = p_now
       WHERE api_key_id = p_key AND month = p_month;
     INSERT INTO reservations (id, customer_id, api_key_id, month, amount_micros, request_id, created_at, expires_at)
       VALUES (p_id, p_customer, p_key, p_month, p_amount, p_request, p_now, p_expires);
     o_c_reserved := o_c_reserved + p_amount;
     o_k_reserved := o_k_reserved + p_amount;
     o_outcome := 'reserved';
     RETURN NEXT;
   END $fn$`,

  // Settle a batch of answered calls in one transaction (the usage events are inserted by the
  // calling statement's data-modifying CTE, so they commit or roll back with this). Drops each
  // call's reservation, then charges every customer month row once and every key month row once
  // (sorted), then touches the keys (sorted). Returns one row per customer month ('c': spent,
  // extra), per key month ('k': spent) and per released reservation ('r': call index, amount).
  // p_defer_flush: commit without waiting for the WAL flush — the caller then waits for it with
  // a flush barrier before answering anyone (see "Durability" above).
  `CREATE OR REPLACE FUNCTION kaixu_settle_batch(
     p_res text[], p_customer text[], p_key text[], p_month text[], p_cost bigint[], p_in bigint[], p_out bigint[],
     p_now bigint[], p_touch boolean[], p_defer_flush boolean)
   RETURNS TABLE (o_kind text, o_id text, o_month text, o_a bigint, o_b bigint)
   LANGUAGE plpgsql AS $fn$
   DECLARE
     n integer := coalesce(array_length(p_res, 1), 0);
     v_rel bigint[] := array_fill(0::bigint, ARRAY[n]);
     v_amt bigint; r record; i integer;
   BEGIN
     IF p_defer_flush THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
     FOR i IN 1..n LOOP
       IF p_res[i] IS NOT NULL THEN
         DELETE FROM reservations WHERE id = p_res[i] RETURNING amount_micros INTO v_amt;
         IF FOUND THEN
           v_rel[i] := v_amt;
           o_kind := 'r'; o_id := i::text; o_month := NULL; o_a := v_amt; o_b := NULL; RETURN NEXT;
         END IF;
       END IF;
     END LOOP;
     FOR r IN SELECT x.c, x.m, sum(x.cost)::bigint AS cost, sum(x.rel)::bigint AS rel, sum(x.tin)::bigint AS tin,
                     sum(x.tout)::bigint AS tout, count(*)::bigint AS calls, max(x.t) AS t
                FROM unnest(p_customer, p_month, p_cost, v_rel, p_in, p_out, p_now) AS x(c, m, cost, rel, tin, tout, t)
                GROUP BY x.c, x.m ORDER BY x.c, x.m LOOP
       INSERT INTO monthly_usage AS mu (customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at)
         VALUES (r.c, r.m, r.cost, r.tin, r.tout, r.calls, r.t)
         ON CONFLICT (customer_id, month) DO UPDATE SET
           spent_micros = mu.spent_micros + r.cost, reserved_micros = mu.reserved_micros - r.rel,
           input_tokens = mu.input_tokens + r.tin, output_tokens = mu.output_tokens + r.tout,
           calls = mu.calls + r.calls, updated_at = r.t
         RETURNING 'c', r.c, r.m, mu.spent_micros, mu.extra_cents INTO o_kind, o_id, o_month, o_a, o_b;
       RETURN NEXT;
     END LOOP;
     FOR r IN SELECT x.k, x.m, min(x.c) AS c, sum(x.cost)::bigint AS cost, sum(x.rel)::bigint AS rel, sum(x.tin)::bigint AS tin,
                     sum(x.tout)::bigint AS tout, count(*)::bigint AS calls, max(x.t) AS t
                FROM unnest(p_key, p_customer, p_month, p_cost, v_rel, p_in, p_out, p_now) AS x(k, c, m, cost, rel, tin, tout, t)
                GROUP BY x.k, x.m ORDER BY x.k, x.m LOOP
       INSERT INTO monthly_key_usage AS mk (api_key_id, customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at)
         VALUES (r.k, r.c, r.m, r.cost, r.tin, r.tout, r.calls, r.t)
         ON CONFLICT (api_key_id, month) DO UPDATE SET
           spent_micros = mk.spent_micros + r.cost, reserved_micros = mk.reserved_micros - r.rel,
           input_tokens = mk.input_tokens + r.tin, output_tokens = mk.output_tokens + r.tout,
           calls = mk.calls + r.calls, updated_at = r.t
         RETURNING 'k', r.k, r.m, mk.spent_micros, NULL::bigint INTO o_kind, o_id, o_month, o_a, o_b;
       RETURN NEXT;
     END LOOP;
     FOR r IN SELECT x.k, max(x.t) AS t FROM unnest(p_key, p_now, p_touch) AS x(k, t, touch)
                WHERE x.touch GROUP BY x.k ORDER BY x.k LOOP
       UPDATE api_keys SET last_seen_at = r.t WHERE id = r.k;
     END LOOP;
   END $fn$`,

  `CREATE OR REPLACE FUNCTION kaixu_release(p_res text) RETURNS bigint
   LANGUAGE plpgsql AS $fn$
   DECLARE v_c text; v_k text; v_m text; v_amt bigint;
   BEGIN
     PERFORM set_config('synchronous_commit', 'off', true);
     DELETE FROM reservations WHERE id = p_res RETURNING customer_id, api_key_id, month, amount_micros INTO v_c, v_k, v_m, v_amt;
     IF NOT FOUND THEN RETURN 0; END IF;
     UPDATE monthly_usage SET reserved_micros = reserved_micros - v_amt WHERE customer_id = v_c AND month = v_m;
     UPDATE monthly_key_usage SET reserved_micros = reserved_micros - v_amt WHERE api_key_id = v_k AND month = v_m;
     RETURN v_amt;
   END $fn$`,

  // A known, active device only touches last_seen. A new device takes a per-key advisory lock
  // so two new devices racing for the last seat cannot both get it (on any node).
  `CREATE OR REPLACE FUNCTION kaixu_device_seen(
     p_key text, p_customer text, p_install text, p_ua text, p_now bigint, p_max integer)
   RETURNS TABLE (o_outcome text, o_active integer)
   LANGUAGE plpgsql AS $fn$
   DECLARE v_revoked bigint;
   BEGIN
     PERFORM set_config('synchronous_commit', 'off', true);
     UPDATE key_devices SET last_seen_at = p_now, last_seen_ua = COALESCE(p_ua, last_seen_ua)
       WHERE api_key_id = p_key AND install_id = p_install AND revoked_at IS NULL;
     IF FOUND THEN o_outcome := 'ok'; RETURN NEXT; RETURN; END IF;
     PERFORM pg_advisory_xact_lock(hashtextextended('kaixu_dev:' || p_key, 0));
     SELECT revoked_at INTO v_revoked FROM key_devices WHERE api_key_id = p_key AND install_id = p_install;
     IF FOUND THEN
       o_outcome := CASE WHEN v_revoked IS NULL THEN 'ok' ELSE 'revoked' END;
       RETURN NEXT; RETURN;
     END IF;
     IF p_max IS NOT NULL AND p_max > 0 THEN
       SELECT count(*) INTO o_active FROM key_devices WHERE api_key_id = p_key AND revoked_at IS NULL;
       IF o_active >= p_max THEN o_outcome := 'limit'; RETURN NEXT; RETURN; END IF;
     END IF;
     INSERT INTO key_devices (api_key_id, customer_id, install_id, first_seen_at, last_seen_at, last_seen_ua)
       VALUES (p_key, p_customer, p_install, p_now, p_now, p_ua);
     o_outcome := 'registered';
     RETURN NEXT;
   END $fn$`,

  // Sliding-window counters: for each window i, allowed iff prev·wnum < (limit − cur)·wden
  // (exact integer form of floor(prev·weight) + cur < limit). Counts only when every window allows.
  `CREATE OR REPLACE FUNCTION kaixu_rate_hit(
     p_buckets text[], p_starts bigint[], p_prev_starts bigint[], p_wnum bigint[], p_wden bigint[],
     p_limits bigint[], p_expires bigint[])
   RETURNS TABLE (o_allowed boolean, o_prev bigint[], o_cur bigint[])
   LANGUAGE plpgsql AS $fn$
   DECLARE i integer; v_prev bigint; v_cur bigint;
   BEGIN
     PERFORM set_config('synchronous_commit', 'off', true);
     o_allowed := true; o_prev := '{}'; o_cur := '{}';
     FOR i IN 1..coalesce(array_length(p_buckets, 1), 0) LOOP
       SELECT w.count INTO v_cur FROM rate_limit_windows w WHERE w.bucket = p_buckets[i] AND w.window_start = p_starts[i] FOR UPDATE;
       IF NOT FOUND THEN
         INSERT INTO rate_limit_windows (bucket, window_start, count, expires_at) VALUES (p_buckets[i], p_starts[i], 0, p_expires[i])
           ON CONFLICT DO NOTHING;
         SELECT w.count INTO v_cur FROM rate_limit_windows w WHERE w.bucket = p_buckets[i] AND w.window_start = p_starts[i] FOR UPDATE;
       END IF;
       SELECT w.count INTO v_prev FROM rate_limit_windows w WHERE w.bucket = p_buckets[i] AND w.window_start = p_prev_starts[i];
       v_prev := coalesce(v_prev, 0);
       IF v_prev * p_wnum[i] >= (p_limits[i] - v_cur) * p_wden[i] THEN o_allowed := false; END IF;
       o_prev := o_prev || v_prev; o_cur := o_cur || v_cur;
     END LOOP;
     IF o_allowed THEN
       FOR i IN 1..coalesce(array_length(p_buckets, 1), 0) LOOP
         UPDATE rate_limit_windows SET count = count + 1 WHERE bucket = p_buckets[i] AND window_start = p_starts[i];
         o_cur[i] := o_cur[i] + 1;
       END LOOP;
     END IF;
     RETURN NEXT;
   END $fn$`,
];
