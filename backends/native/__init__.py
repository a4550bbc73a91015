"""Native models: a user's own ``torch.nn.Module`` in any supported SNN framework, registered with a model card (:func:`backends.native.card.register_model`) and measured through forward hooks."""
