"""The reader: e5's question side fine-tuned to point at the sentence that answers (READER=on).

data.py builds the examples (XQuAD in 12 languages over the Arabic paragraphs, ARCD), train.py trains
the question tower (torch, the ``[st]`` extra) and exports its layers, tower.py serves them on ONNX
Runtime without torch. Figures and what was tried: README, "The reader".
"""
