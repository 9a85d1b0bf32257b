"""HTTP ingest: the same pipeline as MQTT and Kafka for senders that cannot speak them.

`items.py` (pure) splits a request body into items, one message each, and decodes them
with ingest.decode exactly as a broker message would be; `group.py` commits the items
of concurrent requests together through store.writer.BatchWriter with the detector
runner in the transaction, and tells each request what became of each of its items
once its transaction has committed. api/routers/ingest.py is the HTTP face.
"""
