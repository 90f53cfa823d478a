"""The serving engine, plain Python: no Django here.

catalog.py  the products a tenant can serve, as arrays the filters read
model.py    a model version ready to serve (its items and those embedded since)
ranking.py  top-k with filters, rules, diversity (MMR) and rank fusion
cache.py    a memory-bounded LRU of loaded models
"""
