"""zspace.flows"""
