"""The desk's pages and APIs, one Sanic blueprint per purpose; :mod:`desk.app` registers them.

``deps`` holds what every route relies on (session, role, CSRF, rendering); ``auth``, ``queue``,
``cases``, ``resolved``, ``canned`` and ``audit`` hold the routes.
"""
