"""The report templates every hospital shares: normal reports to start from, in Chinese and English.

Installed by migration 0004 and again by `seed_demo` (idempotent: a template is looked up by
language and name), so a database flushed by tests or by hand gets them back.
"""
from __future__ import annotations

# (modality, body part, language, name, technique, findings, impression): normal reports to edit.
SHARED_TEMPLATES = [
    ("CT", "CHEST", "zh-hans", "胸部CT平扫（正常）", "胸部CT平扫，层厚5mm，肺窗及纵隔窗观察。",
     "胸廓对称，气管居中。双肺纹理清晰，走行自然，双肺野内未见明确实变、结节或肿块影。各叶段支气管通畅。双侧肺门不大。"
     "纵隔内未见明显肿大淋巴结。心影大小、形态未见异常。双侧胸腔未见积液，胸膜未见增厚。所见骨质未见明确破坏。",
     "胸部CT平扫未见明显异常。"),
    ("CT", "CHEST", "en", "CT chest, non-contrast (normal)", "Non-contrast CT of the chest, 5 mm slices, reviewed in lung and mediastinal windows.",
     "The chest is symmetric and the trachea central. The lungs are clear, with no consolidation, nodule or mass. The airways are patent. "
     "The hila are not enlarged. No enlarged mediastinal lymph node. Heart size and shape are normal. No pleural effusion or thickening. "
     "No destructive lesion of the imaged bones.",
     "Normal non-contrast CT of the chest."),
    ("CT", "HEAD", "zh-hans", "头颅CT平扫（正常）", "头颅CT平扫，层厚5mm。",
     "脑实质密度均匀，灰白质分界清楚，未见明确异常密度影。脑室系统大小、形态正常，脑沟、脑裂、脑池未见增宽。中线结构居中。"
     "颅骨骨质未见明确骨折或破坏。",
     "头颅CT平扫未见明显异常。"),
    ("CT", "HEAD", "en", "CT head, non-contrast (normal)", "Non-contrast CT of the head, 5 mm slices.",
     "The brain is of uniform attenuation with preserved grey-white differentiation; no haemorrhage, infarct or mass. "
     "The ventricles, sulci and cisterns are normal in size. The midline is central. No skull fracture.",
     "No acute intracranial abnormality on non-contrast CT."),
    ("CT", "ABDOMEN", "zh-hans", "腹部CT平扫（正常）", "上腹部CT平扫，层厚5mm。",
     "肝脏形态、大小正常，肝实质密度均匀，未见异常密度灶。肝内外胆管未见扩张，胆囊不大，壁不厚。胰腺形态、密度未见异常。"
     "脾脏不大。双肾形态、大小正常，未见结石及积水。腹膜后未见肿大淋巴结。腹腔内未见积液。",
     "腹部CT平扫未见明显异常。"),
    ("CT", "ABDOMEN", "en", "CT abdomen, non-contrast (normal)", "Non-contrast CT of the upper abdomen, 5 mm slices.",
     "The liver is normal in size and shape with uniform attenuation and no focal lesion. No intra- or extrahepatic bile duct dilatation; "
     "the gallbladder is not distended and its wall is not thickened. The pancreas is normal. The spleen is not enlarged. Both kidneys are "
     "normal in size and shape, without stones or hydronephrosis. No enlarged retroperitoneal lymph node. No free fluid.",
     "Normal non-contrast CT of the abdomen."),
    ("DX", "CHEST", "zh-hans", "胸部正位片（正常）", "胸部后前位摄影（DR）。",
     "胸廓对称，气管居中。双肺纹理清晰，未见明确实变影及肿块影。双侧肺门不大。心影大小、形态正常。双膈面光整，肋膈角锐利。"
     "所见骨骼未见异常。",
     "心、肺、膈未见明显异常。"),
    ("DX", "CHEST", "en", "Chest radiograph, PA (normal)", "Posteroanterior chest radiograph (DR).",
     "The chest is symmetric and the trachea central. The lungs are clear, with no consolidation or mass. The hila are not enlarged. "
     "The heart is normal in size and shape. The diaphragm is smooth and the costophrenic angles are sharp. The imaged bones are normal.",
     "No active cardiopulmonary disease."),
    ("CR", "CHEST", "zh-hans", "胸部正位片（CR，正常）", "胸部后前位摄影（CR）。",
     "胸廓对称，气管居中。双肺纹理清晰，未见明确实变影及肿块影。双侧肺门不大。心影大小、形态正常。双膈面光整，肋膈角锐利。"
     "所见骨骼未见异常。",
     "心、肺、膈未见明显异常。"),
    ("CR", "CHEST", "en", "Chest radiograph, PA, CR (normal)", "Posteroanterior chest radiograph (CR).",
     "The chest is symmetric and the trachea central. The lungs are clear, with no consolidation or mass. The hila are not enlarged. "
     "The heart is normal in size and shape. The diaphragm is smooth and the costophrenic angles are sharp. The imaged bones are normal.",
     "No active cardiopulmonary disease."),
    ("MR", "BRAIN", "zh-hans", "头颅MRI平扫（正常）", "头颅MRI平扫：轴位T1WI、T2WI、FLAIR、DWI，矢状位T1WI。",
     "脑实质内未见异常信号，DWI未见弥散受限。灰白质分界清楚。脑室系统大小、形态正常，脑沟、脑裂、脑池未见增宽。中线结构居中。"
     "小脑、脑干及垂体未见异常。",
     "头颅MRI平扫未见明显异常。"),
    ("MR", "BRAIN", "en", "MR brain, non-contrast (normal)", "Non-contrast MR of the brain: axial T1, T2, FLAIR and DWI; sagittal T1.",
     "No abnormal signal in the brain and no restricted diffusion. Grey-white differentiation is preserved. The ventricles, sulci and "
     "cisterns are normal in size. The midline is central. The cerebellum, brainstem and pituitary are normal.",
     "Normal non-contrast MR of the brain."),
    ("MR", "LSPINE", "zh-hans", "腰椎MRI平扫（正常）", "腰椎MRI平扫：矢状位T1WI、T2WI、STIR，轴位T2WI。",
     "腰椎生理曲度存在，序列整齐。各椎体形态、信号未见异常。各椎间盘信号及形态未见明显异常，未见明确突出。椎管未见狭窄，"
     "硬膜囊及神经根未见受压。脊髓圆锥位置、信号正常。椎旁软组织未见异常。",
     "腰椎MRI平扫未见明显异常。"),
    ("MR", "LSPINE", "en", "MR lumbar spine (normal)", "Non-contrast MR of the lumbar spine: sagittal T1, T2 and STIR; axial T2.",
     "Normal lumbar lordosis and alignment. The vertebral bodies are normal in shape and signal. The discs are normal, without herniation. "
     "The canal is not narrowed and neither the thecal sac nor the nerve roots are compressed. The conus is normal in position and signal. "
     "The paravertebral soft tissues are normal.",
     "Normal MR of the lumbar spine."),
    ("US", "ABDOMEN", "zh-hans", "腹部超声：肝胆胰脾（正常）", "空腹腹部实时超声检查。",
     "肝脏形态、大小正常，包膜光滑，实质回声均匀，未见占位。门静脉内径正常。胆囊大小正常，壁光滑，腔内未见异常回声。"
     "肝内外胆管未见扩张。胰腺显示部分未见异常。脾脏大小正常，实质回声均匀。",
     "肝、胆、胰、脾超声未见明显异常。"),
    ("US", "ABDOMEN", "en", "Ultrasound abdomen: liver, gallbladder, pancreas, spleen (normal)", "Real-time abdominal ultrasound, fasting.",
     "The liver is normal in size and shape with a smooth capsule, uniform echotexture and no mass. The portal vein is of normal calibre. "
     "The gallbladder is normal in size with a smooth wall and no stone. No bile duct dilatation. The visible pancreas is normal. "
     "The spleen is normal in size with uniform echotexture.",
     "Normal ultrasound of the liver, gallbladder, pancreas and spleen."),
]


def install_shared_templates(model=None) -> int:
    """Create the shared templates that are missing; `model` is the migration's historical model."""
    if model is None:
        from imaging.models import ReportTemplate as model
    created = 0
    for modality, body_part, language, name, technique, findings, impression in SHARED_TEMPLATES:
        _template, made = model.objects.get_or_create(
            hospital=None, language=language, name=name,
            defaults={"modality": modality, "body_part": body_part, "technique": technique, "findings": findings, "impression": impression},
        )
        created += made
    return created
