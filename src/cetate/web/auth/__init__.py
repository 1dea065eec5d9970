"""Accounts: people (session cookies), machines (API keys), and their roles per tenant.

``api.install_auth`` is all the app needs: it guards the accounts' own tenant on every request
and, when ``Settings.auth`` is on, checks each request's credentials and roles (``middleware``)
and serves ``/auth`` (``api``). The accounts live in the hub (``accounts``); what a request
needs is decided by ``policy``; ``roles``, ``passwords``, ``tokens`` and ``throttle`` are small
pure parts; ``cli`` adds ``cetate users`` and ``cetate keys``.
"""
