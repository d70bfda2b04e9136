/**
 * PL/pgSQL functions for the governance hot path on PostgreSQL (part of migration 003; frozen
 * with it — a later change ships as a new migration with CREATE OR REPLACE). Each is called as
 * one statement, so every step is atomic and costs one round trip, and it re-reads what must hold
 * across nodes (key not revoked, customer active, device not revoked) inside the same statement.
 *
 * Lock order, everywhere: reservation row → customer month row → key month row. The SQLite
 * implementation (src/governance/caps/sqlite.ts) mirrors these functions statement for statement.
 *
 * Durability: settle (the usage ledger — money) commits synchronously. Reserve, release, device
 * touches and rate-limit hits are soft state and commit with synchronous_commit = off for their
 * own transaction only: each saves a WAL flush (≈ 2.5 ms on this project's CI disks) on the hot
 * path. A database crash can lose the last few hundred ms of them — never half of one (a
 * reservation and its hold on the monthly row commit together), and the next settle's
 * synchronous commit flushes every earlier one. The cost of that trade: after a database crash,
 * calls admitted just before it may overshoot a cap by at most their own reservations.
 */
export const PG_FUNCTIONS = [
  `CREATE OR REPLACE FUNCTION kaixu_reserve(
     p_id text, p_customer text, p_key text, p_month text, p_amount bigint,
     p_install text, p_request text, p_now bigint, p_expires bigint)
   RETURNS TABLE (o_outcome text, o_mode text, o_base_cap_cents bigint, o_key_cap_cents bigint, o_extra_cents bigint,
                  o_c_spent bigint, o_c_reserved bigint, o_k_spent bigint, o_k_reserved bigint)
   LANGUAGE plpgsql AS $fn$
   DECLARE
     v_active integer; v_revoked bigint; v_owner text; v_ccap bigint; v_kcap bigint;
   BEGIN
     PERFORM set_config('synchronous_commit', 'off', true);
     SELECT c.monthly_cap_cents, k.monthly_cap_cents, c.is_active, k.revoked_at, c.cap_mode, k.customer_id
       INTO o_base_cap_cents, o_key_cap_cents, v_active, v_revoked, o_mode, v_owner
       FROM api_keys k JOIN customers c ON c.id = k.customer_id WHERE k.id = p_key;
     IF NOT FOUND OR v_revoked IS NOT NULL OR v_owner <> p_customer THEN
       o_outcome := 'key_revoked'; RETURN NEXT; RETURN;
     END IF;
     IF v_active <> 1 THEN o_outcome := 'customer_disabled'; RETURN NEXT; RETURN; END IF;
     IF p_install IS NOT NULL AND EXISTS (
         SELECT 1 FROM key_devices d WHERE d.api_key_id = p_key AND d.install_id = p_install AND d.revoked_at IS NOT NULL) THEN
       o_outcome := 'device_revoked'; RETURN NEXT; RETURN;
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
     o_outcome := 'reserved';
     RETURN NEXT;
   END $fn$`,

  `CREATE OR REPLACE FUNCTION kaixu_settle(
     p_res text, p_customer text, p_key text, p_month text, p_cost bigint, p_in bigint, p_out bigint,
     p_now bigint, p_touch_key boolean)
   RETURNS TABLE (o_c_spent bigint, o_extra_cents bigint, o_k_spent bigint, o_released bigint)
   LANGUAGE plpgsql AS $fn$
   DECLARE v_amt bigint := 0;
   BEGIN
     IF p_res IS NOT NULL THEN
       DELETE FROM reservations WHERE id = p_res RETURNING amount_micros INTO v_amt;
       IF NOT FOUND THEN v_amt := 0; END IF;
     END IF;
     INSERT INTO monthly_usage AS m (customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at)
       VALUES (p_customer, p_month, p_cost, p_in, p_out, 1, p_now)
       ON CONFLICT (customer_id, month) DO UPDATE SET
         spent_micros = m.spent_micros + p_cost, reserved_micros = m.reserved_micros - v_amt,
         input_tokens = m.input_tokens + p_in, output_tokens = m.output_tokens + p_out,
         calls = m.calls + 1, updated_at = p_now
       RETURNING m.spent_micros, m.extra_cents INTO o_c_spent, o_extra_cents;
     INSERT INTO monthly_key_usage AS mk (api_key_id, customer_id, month, spent_micros, input_tokens, output_tokens, calls, updated_at)
       VALUES (p_key, p_customer, p_month, p_cost, p_in, p_out, 1, p_now)
       ON CONFLICT (api_key_id, month) DO UPDATE SET
         spent_micros = mk.spent_micros + p_cost, reserved_micros = mk.reserved_micros - v_amt,
         input_tokens = mk.input_tokens + p_in, output_tokens = mk.output_tokens + p_out,
         calls = mk.calls + 1, updated_at = p_now
       RETURNING mk.spent_micros INTO o_k_spent;
     IF p_touch_key THEN UPDATE api_keys SET last_seen_at = p_now WHERE id = p_key; END IF;
     o_released := v_amt;
     RETURN NEXT;
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
