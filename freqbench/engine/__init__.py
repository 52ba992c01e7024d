"""The one evaluation loop: (model, dataset, suite) -> per-sample results -> stored records.

``loop`` runs the conditions of a suite for one model (content keys, resume, compatibility checks);
``steps`` is the one adapter every kind of condition goes through (perturbation, attack, released
files read back); ``batches`` applies a condition to a dataset batch by batch; ``collector`` gathers the
per-sample results of a condition; ``progress`` shows them; ``fast`` prepares the model's forward pass
(batch norm folded, channels-last, optional ``torch.compile`` and autocast), each step gated on a
probe batch against eager float32. Randomness comes from (run seed, condition key, sample index), so
results do not depend on the batch size.
"""
