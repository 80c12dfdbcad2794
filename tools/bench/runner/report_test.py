"""Tests of report.py (no processes, no network): the docs page keeps its hand-written
parts, ratios are oriented and judged as documented, nothing unmeasured gets a number.
Run: python3 -m unittest discover -s tools/bench/runner -p '*_test.py'
"""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runner import report  # noqa: E402

RESULTS = {
    "keytrail_in_process": {
        "verify.valid_ns_per_verify_1_thread": 200.0, "verify.keys": 1_000_000.0,
        "verify.dram_random_read_ns": 100.0, "verify.index_bytes": 90e6,
        "memory.resident_bytes_per_key": 600.0, "memory.keys": 1_000_000.0,
        "expiry_burst.keys": 100_000.0, "expiry_burst.seconds_until_last_key_expired": 4.0,
        "expiry_burst.expiries_per_s": 25_000.0,
        "rebuild.events": 1_000_000.0, "rebuild.rebuild_rate": 100_000.0,
        "audit_query.events": 1_000_000.0, "audit_query.p99": 2_500.0,
    },
    "keytrail_http_verify": {"verifies_per_s": 30_000.0, "clients": 16},
    "redis_get": {"gets_per_s": 60_000.0, "clients": 16},
    "keytrail_http_verify_many": {"verifies_per_s": 45_000.0, "clients": 64},
    "keytrail_verify_under_writes": {
        "clients": 8, "pause_ms": 2, "writers": 16, "verifies_per_s_alone": 3_900.0,
        "verifies_per_s_under_writes": 3_500.0, "creates_per_s_during": 8_000.0,
        "alone_p50_ms": 0.1, "alone_p99_ms": 0.5, "under_writes_p50_ms": 0.3,
        "under_writes_p99_ms": 2.0},
    "redis_get_many": {"gets_per_s": 50_000.0, "clients": 64},
    "pg_verify": {"lookups_per_s": 20_000.0, "clients": 16},
    "keytrail_http_create": {"creates_per_s": 9_000.0, "clients": 16},
    "pg_create": {"creates_per_s": 3_000.0, "clients": 16},
    "keytrail_http_rotate": {"rotates_per_s": 6_000.0, "clients": 16},
    "pg_rotate": {"rotates_per_s": 4_000.0, "clients": 16},
    "gateway": {"direct_per_s": 40_000.0, "checked_per_s": 30_000.0, "clients": 16,
                "added_latency_mean_ms": 0.1, "keytrail_server_cpu_us_per_op": 20.0},
}


def rows_by_key(results):
    return {row.key: row for row in report.build_rows(results)}


class BuildRowsTest(unittest.TestCase):
    def test_throughput_ratios_are_keytrail_over_baseline(self):
        rows = rows_by_key(RESULTS)
        self.assertAlmostEqual(rows["verify_http_vs_redis"].ratio, 0.5)
        self.assertEqual(rows["verify_http_vs_redis"].status, "missed")
        self.assertAlmostEqual(rows["create_http_vs_postgres"].ratio, 3.0)
        self.assertEqual(rows["create_http_vs_postgres"].status, "met")  # ratio >= target
        self.assertEqual(rows["verify_http_vs_postgres"].status, "info")
        self.assertAlmostEqual(rows["rotate_http_vs_postgres"].ratio, 1.5)
        self.assertEqual(rows["rotate_http_vs_postgres"].status, "missed")

    def test_verify_is_set_against_one_dram_read(self):
        row = rows_by_key(RESULTS)["verify_in_process_vs_dram"]
        self.assertAlmostEqual(row.ratio, 0.5)  # DRAM read / verify: higher is better
        self.assertEqual(row.status, "info")
        self.assertIn("2.0 DRAM reads", row.keytrail)
        without = copy.deepcopy(RESULTS)
        del without["keytrail_in_process"]["verify.dram_random_read_ns"]
        self.assertNotIn("verify_in_process_vs_dram", rows_by_key(without))
        cached = copy.deepcopy(RESULTS)  # an index that fits in the caches (--quick)
        cached["keytrail_in_process"]["verify.index_bytes"] = 2e6
        self.assertNotIn("verify_in_process_vs_dram", rows_by_key(cached))

    def test_verify_under_writes_is_judged_against_twice_its_p99_alone(self):
        row = rows_by_key(RESULTS)["verify_p99_under_writes"]
        self.assertAlmostEqual(row.ratio, 0.5)  # 2 x 0.5 ms allowed, 2.0 ms measured
        self.assertEqual(row.status, "missed")
        within = copy.deepcopy(RESULTS)
        within["keytrail_verify_under_writes"]["under_writes_p99_ms"] = 0.9
        self.assertEqual(rows_by_key(within)["verify_p99_under_writes"].status, "met")

    def test_gateway_is_checked_over_direct_and_informational(self):
        row = rows_by_key(RESULTS)["gateway_nginx_check"]
        self.assertAlmostEqual(row.ratio, 0.75)
        self.assertEqual(row.status, "info")
        self.assertIn("+100 µs", row.keytrail)

    def test_verify_is_compared_at_many_clients_too(self):
        row = rows_by_key(RESULTS)["verify_http_vs_redis_many"]
        self.assertAlmostEqual(row.ratio, 0.9)
        self.assertIn("64 clients", row.work)
        self.assertEqual(row.status, "missed")

    def test_budget_ratios_are_higher_is_better(self):
        rows = rows_by_key(RESULTS)
        self.assertAlmostEqual(rows["verify_in_process"].ratio, 1.25)  # 250 ns / 200 ns
        self.assertEqual(rows["verify_in_process"].status, "met")
        self.assertAlmostEqual(rows["memory_per_key"].ratio, 0.5)      # 300 B / 600 B
        self.assertAlmostEqual(rows["expiry_burst"].ratio, 0.25)       # 25k/s of 100k/s

    def test_memory_counts_the_settled_state_when_measured(self):
        results = copy.deepcopy(RESULTS)
        results["keytrail_in_process"]["memory.resident_bytes_per_key_settled"] = 400.0
        row = rows_by_key(results)["memory_per_key"]
        self.assertAlmostEqual(row.ratio, 0.75)  # 300 B / 400 B, not / 600 B
        self.assertIn("right after them 600 B", row.note)

    def test_memory_of_expiring_keys_is_its_own_budget_row(self):
        results = copy.deepcopy(RESULTS)
        results["keytrail_in_process"].update({
            "memory_expiring.keys": 1_000_000,
            "memory_expiring.resident_bytes_per_key": 700.0,
            "memory_expiring.resident_bytes_per_key_settled": 600.0})
        row = rows_by_key(results)["memory_per_expiring_key"]
        self.assertAlmostEqual(row.ratio, 0.5)  # 300 B / 600 B
        self.assertIn("expiring", row.work)
        self.assertNotIn("memory_per_expiring_key", rows_by_key(RESULTS))

    def test_rebuild_and_audit_budgets(self):
        rows = rows_by_key(RESULTS)
        self.assertAlmostEqual(rows["rebuild"].ratio, 0.2)             # 100k/s of 500k/s
        self.assertEqual(rows["rebuild"].status, "missed")
        self.assertAlmostEqual(rows["audit_page_p99"].ratio, 2.0)      # 5 ms / 2.5 ms
        self.assertEqual(rows["audit_page_p99"].status, "met")
        self.assertIn("10M", rows["audit_page_p99"].note)              # measured at 1M only

    def test_a_measurement_not_run_gives_no_row(self):
        results = dict(RESULTS)
        del results["redis_get"]
        self.assertNotIn("verify_http_vs_redis", rows_by_key(results))

    def test_tables_have_one_line_per_row(self):
        rows = report.build_rows(RESULTS)
        self.assertEqual(len(report.text_table(rows).splitlines()), len(rows) + 2)
        markdown = report.markdown_table(rows)
        self.assertEqual(len(markdown.splitlines()), len(rows) + 2)
        self.assertIn("**missed**", markdown)


class ReplaceGeneratedTest(unittest.TestCase):
    PAGE = f"# Title\n\nhand-written\n\n{report.BEGIN_MARK}\nold\n{report.END_MARK}\n\nmore text\n"

    def test_replaces_only_between_the_markers(self):
        out = report.replace_generated(self.PAGE, "new table\n")
        self.assertEqual(
            out, f"# Title\n\nhand-written\n\n{report.BEGIN_MARK}\nnew table\n"
                 f"{report.END_MARK}\n\nmore text\n")

    def test_is_idempotent(self):
        once = report.replace_generated(self.PAGE, "x")
        self.assertEqual(report.replace_generated(once, "x"), once)

    def test_appends_markers_to_a_page_without_them(self):
        out = report.replace_generated("# Title\n", "x")
        self.assertTrue(out.startswith("# Title\n\n" + report.BEGIN_MARK))
        self.assertTrue(out.endswith(report.END_MARK + "\n"))


class FormatTest(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(report.fmt_count(1_000_000), "1M")
        self.assertEqual(report.fmt_count(20_000), "20k")
        self.assertEqual(report.fmt_count(20_015), "20.0k")
        self.assertEqual(report.fmt_count(999), "999")

    def test_rates(self):
        self.assertEqual(report.fmt_rate(48_213), "48.2k/s")
        self.assertEqual(report.fmt_rate(2_500_000), "2.50M/s")


if __name__ == "__main__":
    unittest.main()
