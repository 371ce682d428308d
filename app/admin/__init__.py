"""Administration services behind the /campaigns, /lists, /dnc and /users pages.

Pure or session-taking functions only (no Dash, no Flask request state), so they are unit- and
integration-tested without a browser. The page modules in ``app/pages`` stay thin.
"""
