"""Tests for infra/stats.py: percentile_nearest, the percentile the soak and the benchmarks share."""

import math
import random
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats import percentile_nearest  # noqa: E402


class PercentileNearestTest(unittest.TestCase):
    def test_known_values(self):
        hundred = list(range(1, 101))  # 1..100: the value at index i is i + 1
        self.assertEqual(percentile_nearest(hundred, 99), 99)  # index round(98.01) = 98
        self.assertEqual(percentile_nearest(hundred, 95), 95)  # index round(94.05) = 94
        self.assertEqual(percentile_nearest(hundred, 50), 51)  # index round(49.5) = 50 (tie to even)
        self.assertEqual(percentile_nearest(hundred, 1), 2)  # index round(0.99) = 1
        self.assertEqual(percentile_nearest([1, 2, 3, 4, 5], 50), 3)  # the median of an odd count
        self.assertEqual(percentile_nearest(range(1, 21), 95), 19)  # index round(18.05) = 18
        self.assertEqual(percentile_nearest(range(10), 50), 4)  # index round(4.5) = 4 (tie to even)
        self.assertEqual(percentile_nearest([0.25, 0.5, 0.75], 50), 0.5)

    def test_unsorted_input_and_any_iterable(self):
        values = [0.3, 0.1, 0.5, 0.2, 0.4]
        self.assertEqual(percentile_nearest(values, 0), 0.1)
        self.assertEqual(percentile_nearest(values, 75), 0.4)
        self.assertEqual(values, [0.3, 0.1, 0.5, 0.2, 0.4])  # the caller's list is left alone
        self.assertEqual(percentile_nearest((v for v in values), 100), 0.5)

    def test_single_value(self):
        for q in (0, 1, 50, 99, 100):
            self.assertEqual(percentile_nearest([7.5], q), 7.5)

    def test_empty_is_nan(self):
        self.assertTrue(math.isnan(percentile_nearest([], 99)))
        self.assertTrue(math.isnan(percentile_nearest(iter(()), 50)))

    def test_q_bounds(self):
        values = [3, 1, 2]
        self.assertEqual(percentile_nearest(values, 0), 1)  # the minimum
        self.assertEqual(percentile_nearest(values, 100), 3)  # the maximum
        self.assertEqual(percentile_nearest(values, 0.0), 1)
        self.assertEqual(percentile_nearest(values, 100.0), 3)
        for q in (-0.001, -1, 100.001, 101, 9900, math.inf, -math.inf, math.nan):
            with self.assertRaises(ValueError, msg=q):
                percentile_nearest(values, q)
        with self.assertRaises(ValueError):  # checked before looking at the values
            percentile_nearest([], 101)

    def test_same_as_the_former_benchmark_rule(self):
        """infra/bench/run.py's own percentile, which this one replaced, gave the same index."""
        def former(values, q):
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]

        generator = random.Random(20261206)
        for n in (1, 2, 3, 10, 20, 99, 100, 101, 1000):
            values = [generator.random() for _ in range(n)]
            for q in (0, 1, 5, 25, 50, 75, 90, 95, 99, 99.9, 100):
                self.assertEqual(percentile_nearest(values, q), former(values, q), (n, q))

    def test_differs_from_the_former_soak_rule_where_documented(self):
        """The soak's rule was ordered[min(n - 1, int(fraction * n))]: one rank higher when
        fraction * n is whole (p99 of 100 values was the maximum)."""
        def former_soak(values, fraction):
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

        hundred = list(range(1, 101))
        self.assertEqual(former_soak(hundred, 0.99), 100)
        self.assertEqual(percentile_nearest(hundred, 99), 99)
        twenty = list(range(1, 21))
        self.assertEqual(former_soak(twenty, 0.95), 20)
        self.assertEqual(percentile_nearest(twenty, 95), 19)
        # Odd counts: both give the median.
        self.assertEqual(former_soak([1, 2, 3, 4, 5], 0.5), percentile_nearest([1, 2, 3, 4, 5], 50))


if __name__ == "__main__":
    unittest.main()
