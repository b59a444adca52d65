"""The web app: server-rendered pages (Jinja2, autoescape) for the people who ask — auditors, incident
commanders, trust teams, leadership — served by `tracegraph serve` at / beside GraphQL, with the same
tokens, the same audit log and the same repositories.

- app.py          mount(app): the routers, /static and the security headers
- security.py     Content-Security-Policy and the other headers; CSRF tokens and same-origin checks
- sessions.py     who is looking: the session cookie, roles, the 403 for readers on admin pages
- render.py       templates, their helpers, PageRoute (a page for every outcome; page views audited)
- auth_routes.py  sign in by pasting a token, sign out
- pages.py        home, search, change, commit, session, deployment, incident, raw document
- lists.py        the changes list (filters, pages, CSV), services
- more.py         metrics with weekly charts, evidence bundle downloads
- manage.py       admin: tokens, the audit log
- graphiql.py     GraphiQL from the vendored build in static/vendor
"""
