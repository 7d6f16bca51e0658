"""zspace.models"""
