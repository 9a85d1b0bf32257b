"""Device control: commands down to devices and their acknowledgements back.

`catalog` (which commands each device type takes, as data in commands.yaml), `messages`
(topics and payloads), `link` (the MQTT client), `dispatcher` (queued → sent), `acks`
(sent → acknowledged / failed), `expiry` (→ expired), `service` (the loop inside
`ioc alerts run`). SQL is in store/commands.py; the API in api/routers/commands.py.
"""
