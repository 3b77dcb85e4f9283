"""A hub over TLS with a certificate of a private CA (the Rust harness
starts it): trusted with ``ca_file``, refused without it, before the token
is sent."""

from __future__ import annotations

import unittest

from client_env import setting

from gantry_client import Hub, UnreachableError


class Tls(unittest.TestCase):
    def setUp(self) -> None:
        self.url = setting("GANTRY_TEST_TLS_HUB_URL")
        self.token = setting("GANTRY_TEST_TLS_ADMIN_TOKEN")

    def test_the_ca_file_is_trusted(self) -> None:
        self.assertTrue(self.url.startswith("https://"), self.url)
        hub = Hub(self.url, self.token, ca_file=setting("GANTRY_TEST_TLS_CA"))
        self.assertEqual(hub.list().tasks, [])
        self.assertEqual(hub.nodes(), [])

    def test_without_it_the_certificate_is_refused(self) -> None:
        with self.assertRaises(UnreachableError) as caught:
            Hub(self.url, self.token).nodes()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
