"""Reaching a guest: the SSH session with a pinned host key
(:mod:`.ssh`), pushing the core by content hash (:mod:`.push`), and the
guest target that ties image, VM, SSH and core together (:mod:`.guest_target`).
"""
