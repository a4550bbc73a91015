"""Native models: a user's own ``torch.nn.Module`` in any supported SNN framework, registered with a model card (:func:`backends.models.card.register_model`) and measured through forward hooks."""
