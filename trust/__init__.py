"""Signatures: who may sign evidence (the trust file), verifying DSSE envelopes and Sigstore bundles against it,
checking in-toto subjects, and signing what tracegraph exports.

Crypto is `cryptography` (keys) and sigstore-python (certificates, transparency log, identities); this package
only decides what to check and words the outcome. Pure: nothing here touches Neo4j or the network.
"""
