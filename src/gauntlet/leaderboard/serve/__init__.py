"""``gauntlet serve``: a read-only web app over the leaderboard store, with a JSON API.

:mod:`.views` turns stored runs into what the pages and the API show (the same grouping,
intervals and diff as ``gauntlet leaderboard`` and ``gauntlet diff``); :mod:`.app` serves them
(Starlette on uvicorn); :mod:`.security` holds the token check and the response headers.
"""
