"""klcourse: entropy, KL divergence and fitting one distribution to another.

The tested library behind the bilingual course module. Every public name is
re-exported here, one per line, grouped by topic; the private modules hold the code.
Convention everywhere: ``p`` first, ``q`` second, and ``KL(p ‖ q)``. In fitting, P is the
target and Q the model: forward KL is ``KL(P ‖ Q)``, reverse KL is ``KL(Q ‖ P)``.
"""
