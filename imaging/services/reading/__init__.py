"""Remote reading (远程影像诊断): a clinic's read request, its assignment, the report and its sign-off.

- `lifecycle.py`: the states a read may move between, and the one function that moves it
  (timeline, audit); who is told about a read, and the page a notification opens;
- `requests.py`: a clinic asks a paired hospital to read a study; cancelling and declining;
- `assignment.py`: who may read for a hospital, manual and automatic assignment, claiming and
  handing back, the hospital's reading policy and each radiologist's modalities;
- `reports.py`: templates, the draft, the author's signature (书写), verification by another
  radiologist where the hospital requires it (审核), signed reports that only take addenda;
- `critical.py`: critical findings (危急值), their acknowledgement by the clinic, escalation;
- `worklist.py`: the lists each role works from.
"""
