# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   nbpipe:
#     dag_id: percent_demo
#     mode: per_cell
# ---

# %% [markdown]
# # Percent demo
# A Jupytext percent-format script is a notebook too.

# %% tags=["parameters"]
n = 10

# %%
# %pip install requests==2.31.0
values = list(range(n))

# %% Sum it tags=["task:total"]
total = sum(values)
assert total == n * (n - 1) // 2
