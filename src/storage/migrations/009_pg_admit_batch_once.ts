import { sql } from 'kysely';
import { isPg, type MigrationDb } from './helpers.ts';

/**
 * PostgreSQL: a batch of admissions (src/governance/caps/pg-admit.ts) writes each of its hot rows
 * ONCE, instead of once per call.
 *
 * Why: migration 007's kaixu_admit_batch ran kaixu_admit for each call in turn, inside one
 * transaction. Every call then wrote a new version of the same rows — the rate-limit windows and the
 * customer's and key's month rows — and versions written by a transaction still open cannot be
 * pruned, so each later lookup in the batch walked all of them (`heap_hot_search_buffer`, 16 % of the
 * backends' CPU in batches of 32 on 2026-12-07), and the month rows' foreign keys were checked again
 * on every UPDATE of a row the transaction had already written (`AfterTriggerEndQuery`, 9 %).
 *
 * The batch now reads and locks each row once (in migration 003's order: rate-limit windows, then the
 * customer's month row, then the key's), decides the calls one after another in memory — counts and
 * holds as running sums, so each call's outcome and snapshot are exactly what it got admitted alone
 * after the calls before it — and then writes each window and month row once and the reservations in
 * one INSERT. A row a call never reached is not touched, as before (a batch whose calls are all
 * rate-limited locks no month row).
 *
 * It takes that way only for batches whose calls share every row: the same customer, key, month,
 * install id and windows (bucket, start and previous start), and no device step (a registration or
 * the once-a-minute touch). The caller groups such calls, but a window can turn over between two
 * calls of a batch, and a device step writes other rows; any other batch goes the old way, call by
 * call, through 007's function, kept as kaixu_admit_each.
 */
const ADMIT_BATCH = `CREATE FUNCTION kaixu_admit_batch(
     p_id text[], p_customer text[], p_key text[], p_month text[], p_amount bigint[],
     p_install text[], p_request text[], p_now bigint[], p_expires bigint[],
     p_key_upd bigint[], p_cust_upd bigint[],
     p_dev_seen boolean[], p_dev_ua text[], p_dev_max integer[],
     p_rl_width integer,
     p_rl_buckets text[], p_rl_starts bigint[], p_rl_prev_starts bigint[], p_rl_wnum bigint[], p_rl_wden bigint[],
     p_rl_limits bigint[], p_rl_expires bigint[])
   RETURNS TABLE (o_i integer, o_outcome text, o_dev_outcome text, o_dev_active integer, o_rl_allowed boolean, o_rl_prev bigint[], o_rl_cur bigint[],
                  o_mode text, o_base_cap_cents bigint, o_key_cap_cents bigint, o_extra_cents bigint,
                  o_c_spent bigint, o_c_reserved bigint, o_k_spent bigint, o_k_reserved bigint)
   LANGUAGE plpgsql AS $fn$
   DECLARE
     n integer := coalesce(array_length(p_id, 1), 0);
     w integer := coalesce(p_rl_width, 0);
     i integer; j integer; q integer; v_cnt bigint; v_allowed boolean; v_shared boolean;
     v_found boolean; v_active integer; v_revoked bigint; v_owner text; v_kupd bigint; v_cupd bigint;
     v_dev_revoked boolean := false;
     v_rl_locked boolean := false; v_cur bigint[]; v_prev bigint[]; v_counted boolean := false;
     v_months boolean := false; v_ccap bigint; v_kcap bigint;
     v_c_spent bigint; v_c_res bigint; v_extra bigint; v_k_spent bigint; v_k_res bigint;
     v_held integer[] := '{}'; v_held_sum bigint := 0; v_last_now bigint;
   BEGIN
     -- Do all calls share every row? (One expression each, evaluated in C, not a loop per call.)
     v_shared := n > 1
       AND p_customer[1] = ALL (p_customer) AND p_key[1] = ALL (p_key) AND p_month[1] = ALL (p_month)
       AND coalesce(p_install[1] = ALL (p_install), p_install[1] IS NULL AND cardinality(array_remove(p_install, NULL)) = 0)
       AND NOT (true = ANY (p_dev_seen))
       AND cardinality(p_rl_buckets) = n * w AND cardinality(p_rl_starts) = n * w AND cardinality(p_rl_prev_starts) = n * w;
     IF v_shared AND w > 0 THEN
       SELECT bool_and(p_rl_buckets[g] = p_rl_buckets[(g - 1) % w + 1] AND p_rl_starts[g] = p_rl_starts[(g - 1) % w + 1]
                       AND p_rl_prev_starts[g] = p_rl_prev_starts[(g - 1) % w + 1])
         INTO v_shared FROM generate_series(1, n * w) g;
     END IF;
     IF NOT coalesce(v_shared, false) THEN
       RETURN QUERY SELECT * FROM kaixu_admit_each(p_id, p_customer, p_key, p_month, p_amount, p_install, p_request, p_now, p_expires,
         p_key_upd, p_cust_upd, p_dev_seen, p_dev_ua, p_dev_max, p_rl_width,
         p_rl_buckets, p_rl_starts, p_rl_prev_starts, p_rl_wnum, p_rl_wden, p_rl_limits, p_rl_expires);
       RETURN;
     END IF;

     PERFORM set_config('synchronous_commit', 'off', true);
     SELECT c.monthly_cap_cents, k.monthly_cap_cents, c.is_active, k.revoked_at, c.cap_mode, k.customer_id, k.updated_at, c.updated_at
       INTO o_base_cap_cents, o_key_cap_cents, v_active, v_revoked, o_mode, v_owner, v_kupd, v_cupd
       FROM api_keys k JOIN customers c ON c.id = k.customer_id WHERE k.id = p_key[1];
     v_found := FOUND;
     IF v_found AND p_install[1] IS NOT NULL THEN
       v_dev_revoked := EXISTS (
         SELECT 1 FROM key_devices d WHERE d.api_key_id = p_key[1] AND d.install_id = p_install[1] AND d.revoked_at IS NOT NULL);
     END IF;

     FOR i IN 1..n LOOP
       o_i := i; o_dev_outcome := NULL; o_dev_active := NULL; o_rl_allowed := NULL; o_rl_prev := NULL; o_rl_cur := NULL;
       o_extra_cents := NULL; o_c_spent := NULL; o_c_reserved := NULL; o_k_spent := NULL; o_k_reserved := NULL;
       IF NOT v_found OR v_revoked IS NOT NULL OR v_owner <> p_customer[i] THEN o_outcome := 'key_revoked'; RETURN NEXT; CONTINUE; END IF;
       IF v_kupd IS DISTINCT FROM p_key_upd[i] OR v_cupd IS DISTINCT FROM p_cust_upd[i] THEN o_outcome := 'stale'; RETURN NEXT; CONTINUE; END IF;
       IF v_active <> 1 THEN o_outcome := 'customer_disabled'; RETURN NEXT; CONTINUE; END IF;
       IF v_dev_revoked THEN o_outcome := 'device_revoked'; RETURN NEXT; CONTINUE; END IF;

       IF w > 0 THEN
         IF NOT v_rl_locked THEN
           -- The windows, locked in order (as kaixu_rate_hit does), and the previous windows' counts.
           v_cur := '{}'; v_prev := '{}';
           FOR j IN 1..w LOOP
             q := (i - 1) * w + j;
             SELECT r.count INTO v_cnt FROM rate_limit_windows r WHERE r.bucket = p_rl_buckets[j] AND r.window_start = p_rl_starts[j] FOR UPDATE;
             IF NOT FOUND THEN
               INSERT INTO rate_limit_windows (bucket, window_start, count, expires_at) VALUES (p_rl_buckets[j], p_rl_starts[j], 0, p_rl_expires[q])
                 ON CONFLICT DO NOTHING;
               SELECT r.count INTO v_cnt FROM rate_limit_windows r WHERE r.bucket = p_rl_buckets[j] AND r.window_start = p_rl_starts[j] FOR UPDATE;
             END IF;
             v_cur := v_cur || v_cnt;
             SELECT r.count INTO v_cnt FROM rate_limit_windows r WHERE r.bucket = p_rl_buckets[j] AND r.window_start = p_rl_prev_starts[j];
             v_prev := v_prev || coalesce(v_cnt, 0);
           END LOOP;
           v_rl_locked := true;
         END IF;
         v_allowed := true;
         FOR j IN 1..w LOOP
           q := (i - 1) * w + j;
           IF v_prev[j] * p_rl_wnum[q] >= (p_rl_limits[q] - v_cur[j]) * p_rl_wden[q] THEN v_allowed := false; END IF;
         END LOOP;
         o_rl_allowed := v_allowed; o_rl_prev := v_prev;
         IF NOT v_allowed THEN o_rl_cur := v_cur; o_outcome := 'rate_limited'; RETURN NEXT; CONTINUE; END IF;
         FOR j IN 1..w LOOP v_cur[j] := v_cur[j] + 1; END LOOP;
         o_rl_cur := v_cur; v_counted := true;
       END IF;

       IF NOT v_months THEN
         SELECT m.spent_micros, m.reserved_micros, m.extra_cents INTO v_c_spent, v_c_res, v_extra
           FROM monthly_usage m WHERE m.customer_id = p_customer[1] AND m.month = p_month[1] FOR UPDATE;
         IF NOT FOUND THEN
           INSERT INTO monthly_usage (customer_id, month, updated_at) VALUES (p_customer[1], p_month[1], p_now[i]) ON CONFLICT DO NOTHING;
           SELECT m.spent_micros, m.reserved_micros, m.extra_cents INTO v_c_spent, v_c_res, v_extra
             FROM monthly_usage m WHERE m.customer_id = p_customer[1] AND m.month = p_month[1] FOR UPDATE;
         END IF;
         SELECT mk.spent_micros, mk.reserved_micros INTO v_k_spent, v_k_res
           FROM monthly_key_usage mk WHERE mk.api_key_id = p_key[1] AND mk.month = p_month[1] FOR UPDATE;
         IF NOT FOUND THEN
           INSERT INTO monthly_key_usage (api_key_id, customer_id, month, updated_at) VALUES (p_key[1], p_customer[1], p_month[1], p_now[i]) ON CONFLICT DO NOTHING;
           SELECT mk.spent_micros, mk.reserved_micros INTO v_k_spent, v_k_res
             FROM monthly_key_usage mk WHERE mk.api_key_id = p_key[1] AND mk.month = p_month[1] FOR UPDATE;
         END IF;
         v_months := true;
       END IF;
       o_extra_cents := v_extra; o_c_spent := v_c_spent; o_c_reserved := v_c_res; o_k_spent := v_k_spent; o_k_reserved := v_k_res;
       v_ccap := (o_base_cap_cents + v_extra) * 10000;
       v_kcap := COALESCE(o_key_cap_cents * 10000, v_ccap);
       IF o_mode = 'soft' THEN
         IF v_c_spent >= v_ccap THEN o_outcome := 'customer_cap';
         ELSIF v_k_spent >= v_kcap THEN o_outcome := 'key_cap';
         ELSE o_outcome := 'ok'; END IF;
       ELSIF v_c_spent + v_c_res + p_amount[i] > v_ccap THEN o_outcome := 'customer_cap';
       ELSIF v_k_spent + v_k_res + p_amount[i] > v_kcap THEN o_outcome := 'key_cap';
       ELSE
         v_c_res := v_c_res + p_amount[i]; v_k_res := v_k_res + p_amount[i];
         o_c_reserved := v_c_res; o_k_reserved := v_k_res;
         v_held := v_held || i; v_held_sum := v_held_sum + p_amount[i]; v_last_now := p_now[i];
         o_outcome := 'reserved';
       END IF;
       RETURN NEXT;
     END LOOP;

     -- Each row written once: the windows' final counts (their locks are held), the holds, the reservations.
     IF v_counted THEN
       UPDATE rate_limit_windows r SET count = x.c
         FROM unnest(p_rl_buckets[1:w], p_rl_starts[1:w], v_cur) AS x(b, s, c) WHERE r.bucket = x.b AND r.window_start = x.s;
     END IF;
     IF cardinality(v_held) > 0 THEN
       UPDATE monthly_usage SET reserved_micros = reserved_micros + v_held_sum, updated_at = v_last_now
         WHERE customer_id = p_customer[1] AND month = p_month[1];
       UPDATE monthly_key_usage SET reserved_micros = reserved_micros + v_held_sum, updated_at = v_last_now
         WHERE api_key_id = p_key[1] AND month = p_month[1];
       INSERT INTO reservations (id, customer_id, api_key_id, month, amount_micros, request_id, created_at, expires_at)
         SELECT p_id[x], p_customer[x], p_key[x], p_month[x], p_amount[x], p_request[x], p_now[x], p_expires[x] FROM unnest(v_held) AS x;
     END IF;
   END $fn$`;

export async function up(db: MigrationDb): Promise<void> {
  if (!isPg(db)) return;
  // One function of each name, so the name alone says which (as 007's down drops it).
  await sql.raw('ALTER FUNCTION kaixu_admit_batch RENAME TO kaixu_admit_each').execute(db);
  await sql.raw(ADMIT_BATCH).execute(db);
}

export async function down(db: MigrationDb): Promise<void> {
  if (!isPg(db)) return;
  await sql.raw('DROP FUNCTION kaixu_admit_batch').execute(db);
  await sql.raw('ALTER FUNCTION kaixu_admit_each RENAME TO kaixu_admit_batch').execute(db);
}
