"""The pure core: bits, transforms, schemes, fans and gains, generation, diagnostics.

Nothing here imports a web framework; the HTTP layer is a thin shell over it.
"""
