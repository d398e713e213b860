"""Every generator family: fixtures written in code parse to exactly the prompts and parameters put in them."""

from __future__ import annotations

import json

import pytest
from prov_builders import (
    NEGATIVE,
    POSITIVE,
    a1111_infotext,
    exif_bytes,
    itxt_chunk,
    jpeg_with_segments,
    png_with_text,
    user_comment_unicode,
    webp_with_exif,
    xmp_packet,
)

from bastion.media.provenance import ProvenanceSettings, inspect_bytes

META_ONLY = ProvenanceSettings(watermark=False, stealth=False)  # metadata only, no pixel decode


def only(report, family):
    found = [p for p in report.provenances if p.family == family]
    assert len(found) == 1, f"expected one {family} record, got {[p.family for p in report.provenances]}"
    return found[0]


# --- AUTOMATIC1111 / Forge / SD.Next ------------------------------------------------------------


def test_a1111_png_parameters_parse_exactly():
    r = inspect_bytes(png_with_text({"parameters": a1111_infotext()}), settings=META_ONLY)
    p = only(r, "a1111")
    assert p.generator == "AUTOMATIC1111" and p.version == "v1.10.1"
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.steps, p.sampler, p.scheduler, p.cfg, p.seed) == (25, "DPM++ 2M", "Karras", 6.5, 1234567)
    assert (p.width, p.height, p.model, p.model_hash) == (512, 768, "v1-5-pruned-emaonly", "6ce0161689")
    assert [(lr.name, lr.hash) for lr in p.loras] == [("paintstyle", "a1b2c3d4e5f6")]
    assert p.embeddings == ["softfocus"]
    assert p.extra["Denoising strength"] == "0.4"
    assert p.sources["positive_prompts"] == "png:tEXt[parameters]"
    assert r.notes == []


def test_a1111_multiline_prompt_with_colons_and_lora_tag():
    positive = "a watercolor landscape, mountains\nstyle: soft light, <lora:paintstyle:0.7>"
    text = f"{positive}\nNegative prompt: {NEGATIVE}\nsecond line\nSteps: 20, Seed: 5, Size: 64x64"
    p = only(inspect_bytes(png_with_text({"parameters": text}), settings=META_ONLY), "a1111")
    assert p.positive_prompts == [positive]
    assert p.negative_prompts == [f"{NEGATIVE}\nsecond line"]
    assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle", 0.7)]
    assert (p.steps, p.seed) == (20, 5)


def test_a1111_without_negative_prompt():
    p = only(inspect_bytes(png_with_text({"parameters": a1111_infotext(negative=None)}), settings=META_ONLY), "a1111")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == []


@pytest.mark.parametrize("version,generator", [("f2.0.1v1.10.1-previous-519", "Forge"), ("v1.9.4", "AUTOMATIC1111")])
def test_a1111_forks_named_from_version(version, generator):
    p = only(inspect_bytes(png_with_text({"parameters": a1111_infotext(version=version)}), settings=META_ONLY), "a1111")
    assert p.generator == generator


def test_sdnext_named_from_app_param():
    text = f"{POSITIVE}\nSteps: 20, Seed: 1, App: SD.Next, Version: 2c4d5f1"
    assert only(inspect_bytes(png_with_text({"parameters": text}), settings=META_ONLY), "a1111").generator == "SD.Next"


@pytest.mark.parametrize("big_endian", [True, False])
def test_a1111_jpeg_exif_usercomment_unicode_both_byte_orders(big_endian):
    exif = exif_bytes({0x0131: "test"}, exif_ifd_tags={0x9286: user_comment_unicode(a1111_infotext(), big_endian=big_endian)})
    r = inspect_bytes(jpeg_with_segments([(0xE1, b"Exif\x00\x00" + exif)]), settings=META_ONLY)
    p = only(r, "a1111")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE] and p.seed == 1234567
    assert p.sources["positive_prompts"] == "exif:UserComment"


def test_a1111_webp_exif_usercomment():
    exif = exif_bytes({}, exif_ifd_tags={0x9286: user_comment_unicode(a1111_infotext())}, little_endian=False)
    r = inspect_bytes(webp_with_exif(b"Exif\x00\x00" + exif), settings=META_ONLY)
    assert r.format == "webp"
    assert only(r, "a1111").positive_prompts == [POSITIVE]


# --- ComfyUI -------------------------------------------------------------------------------------

SD_GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "paintstyle.safetensors", "strength_model": 0.8,
                                                   "strength_clip": 1.0, "model": ["4", 0], "clip": ["4", 1]}},
    "11": {"class_type": "LoraLoader", "inputs": {"lora_name": "texture.safetensors", "strength_model": 0.5,
                                                   "strength_clip": 1.0, "model": ["10", 0], "clip": ["10", 1]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE, "clip": ["11", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["11", 1]}},
    "12": {"class_type": "CLIPTextEncode", "inputs": {"text": "an unused red cube", "clip": ["11", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 424242, "steps": 30, "cfg": 7.5, "sampler_name": "euler",
                                               "scheduler": "normal", "denoise": 1.0, "model": ["11", 0],
                                               "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
}

FLUX_GRAPH = {
    "30": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
    "31": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl.safetensors", "clip_name2": "clip_l.safetensors"}},
    "25": {"class_type": "Text Multiline", "inputs": {"text": "a watercolor landscape"}},
    "23": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip_l": "a red cube", "t5xxl": "a red cube on a table",
                                                         "guidance": 3.5, "clip": ["31", 0]}},
    "24": {"class_type": "CLIPTextEncode", "inputs": {"text": ["25", 0], "clip": ["31", 0]}},
    "22": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["23", 0], "conditioning_2": ["24", 0]}},
    "21": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["22", 0]}},
    "20": {"class_type": "BasicGuider", "inputs": {"model": ["30", 0], "conditioning": ["21", 0]}},
    "26": {"class_type": "RandomNoise", "inputs": {"noise_seed": 777}},
    "27": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
    "28": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 20, "denoise": 1.0, "model": ["30", 0]}},
    "29": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
    "40": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["26", 0], "guider": ["20", 0], "sampler": ["27", 0],
                                                             "sigmas": ["28", 0], "latent_image": ["29", 0]}},
}

SDXL_CONTROLNET_GRAPH = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    "2": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": POSITIVE, "text_l": "soft light", "width": 1024,
                                                         "height": 1024, "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": NEGATIVE, "text_l": NEGATIVE, "clip": ["1", 1]}},
    "4": {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["2", 0], "negative": ["3", 0],
                                                              "control_net": ["9", 0], "image": ["10", 0], "strength": 0.6}},
    "5": {"class_type": "ConditioningSetTimestepRange", "inputs": {"conditioning": ["4", 0], "start": 0.0, "end": 1.0}},
    "6": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["5", 0], "negative": ["4", 1], "cfg": 5.0}},
    "7": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["8", 0], "guider": ["6", 0]}},
    "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": 99}},
}


def test_comfyui_png_prompt_graph_traced():
    r = inspect_bytes(png_with_text({"prompt": json.dumps(SD_GRAPH), "workflow": "{}"}), settings=META_ONLY)
    p = only(r, "comfyui")
    assert p.positive_prompts == [POSITIVE]
    assert p.negative_prompts == [NEGATIVE]
    assert "an unused red cube" not in p.positive_prompts + p.negative_prompts
    assert (p.seed, p.steps, p.cfg, p.sampler, p.scheduler) == (424242, 30, 7.5, "euler", "normal")
    assert (p.width, p.height, p.model) == (1024, 768, "sd_xl_base_1.0.safetensors")
    assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle.safetensors", 0.8), ("texture.safetensors", 0.5)]
    assert p.sources["positive_prompts"] == "png:tEXt[prompt]"


def test_comfyui_flux_custom_sampler_combine_and_custom_text_node():
    p = only(inspect_bytes(png_with_text({"prompt": json.dumps(FLUX_GRAPH)}), settings=META_ONLY), "comfyui")
    assert p.positive_prompts == ["a red cube", "a red cube on a table", "a watercolor landscape"]
    assert p.negative_prompts == []
    assert (p.seed, p.steps, p.sampler, p.scheduler) == (777, 20, "euler", "simple")
    assert (p.model, p.width, p.height) == ("flux1-dev.safetensors", 1024, 768)


def test_comfyui_sdxl_controlnet_passes_positive_and_negative_apart():
    p = only(inspect_bytes(png_with_text({"prompt": json.dumps(SDXL_CONTROLNET_GRAPH)}), settings=META_ONLY), "comfyui")
    assert p.positive_prompts == [POSITIVE, "soft light"]
    assert p.negative_prompts == [NEGATIVE]
    assert (p.seed, p.cfg, p.model) == (99, 5.0, "sdxl.safetensors")


def test_comfyui_cyclic_graph_terminates():
    graph = {"1": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["1", 0]}},
             "2": {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["1", 0]}},
             "3": {"class_type": "KSampler", "inputs": {"positive": ["1", 0], "negative": ["2", 0], "seed": 1}}}
    p = only(inspect_bytes(png_with_text({"prompt": json.dumps(graph)}), settings=META_ONLY), "comfyui")
    assert p.positive_prompts == [] and p.seed == 1


WORKFLOW = {
    "nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["sd15.safetensors"], "inputs": []},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": [POSITIVE], "inputs": [{"name": "clip", "link": 3}]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": [NEGATIVE], "inputs": [{"name": "clip", "link": 5}]},
        {"id": 5, "type": "EmptyLatentImage", "widgets_values": [512, 640, 1]},
        {"id": 3, "type": "KSampler", "widgets_values": [8675309, "randomize", 22, 6.0, "dpmpp_2m", "karras", 1.0],
         "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 4}, {"name": "negative", "link": 6},
                    {"name": "latent_image", "link": 2}]},
        {"id": 20, "type": "Note", "widgets_values": ["a note that is not a prompt"]},
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
              [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"]],
}


def test_comfyui_workflow_only_is_traced_from_ui_graph():
    p = only(inspect_bytes(png_with_text({"workflow": json.dumps(WORKFLOW)}), settings=META_ONLY), "comfyui")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.seed, p.steps, p.cfg, p.sampler, p.scheduler) == (8675309, 22, 6.0, "dpmpp_2m", "karras")
    assert (p.model, p.width, p.height) == ("sd15.safetensors", 512, 640)
    assert p.sources["positive_prompts"] == "png:tEXt[workflow]"


def test_comfyui_webp_exif_prompt_and_workflow():
    exif = exif_bytes({0x0110: "prompt:" + json.dumps(SD_GRAPH), 0x010F: "workflow:" + json.dumps(WORKFLOW)})
    r = inspect_bytes(webp_with_exif(b"Exif\x00\x00" + exif), settings=META_ONLY)
    p = only(r, "comfyui")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE] and p.seed == 424242
    assert p.sources["positive_prompts"] == "exif:Model[prompt]"
    assert p.sources["workflow"] == "exif:Make[workflow]"


def test_comfyui_invalid_json_gives_note_not_crash():
    r = inspect_bytes(png_with_text({"prompt": '{"3": {"class_type": "KSampler", '}), settings=META_ONLY)
    assert any("comfyui" in n and "not valid JSON" in n for n in r.notes)
    p = only(r, "comfyui")
    assert p.positive_prompts == [] and p.ai_generated is False


# --- NovelAI -------------------------------------------------------------------------------------

NAI_COMMENT = {"prompt": POSITIVE, "steps": 28, "height": 832, "width": 1216, "scale": 5.0, "seed": 987654,
               "sampler": "k_euler_ancestral", "noise_schedule": "native", "uc": NEGATIVE, "n_samples": 1}


def test_novelai_png_text_chunks():
    r = inspect_bytes(png_with_text({"Title": "NovelAI generated image", "Description": POSITIVE, "Software": "NovelAI",
                                     "Source": "Stable Diffusion XL C1E1DE52", "Comment": json.dumps(NAI_COMMENT)}),
                      settings=META_ONLY)
    p = only(r, "novelai")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.steps, p.seed, p.cfg, p.sampler, p.scheduler) == (28, 987654, 5.0, "k_euler_ancestral", "native")
    assert (p.width, p.height, p.model) == (1216, 832, "Stable Diffusion XL C1E1DE52")
    assert [x.family for x in r.provenances] == ["novelai"]  # the Software tag is not double-counted


def test_novelai_v4_captions():
    comment = dict(NAI_COMMENT, v4_prompt={"caption": {"base_caption": POSITIVE, "char_captions": [{"char_caption": "a red cube"}]}},
                   v4_negative_prompt={"caption": {"base_caption": NEGATIVE, "char_captions": []}})
    p = only(inspect_bytes(png_with_text({"Software": "NovelAI", "Source": "NovelAI Diffusion V4",
                                          "Comment": json.dumps(comment)}), settings=META_ONLY), "novelai")
    assert p.positive_prompts == [POSITIVE, "a red cube"] and p.negative_prompts == [NEGATIVE]


def test_novelai_bad_comment_json_keeps_description_and_notes():
    r = inspect_bytes(png_with_text({"Software": "NovelAI", "Description": POSITIVE, "Comment": "{not json"}), settings=META_ONLY)
    p = only(r, "novelai")
    assert p.positive_prompts == [POSITIVE]
    assert any("novelai" in n and "not valid JSON" in n for n in r.notes)


# --- InvokeAI ------------------------------------------------------------------------------------


def test_invokeai_v3_metadata():
    meta = {"generation_mode": "txt2img", "positive_prompt": POSITIVE, "negative_prompt": NEGATIVE, "width": 768,
            "height": 512, "seed": 31337, "steps": 30, "cfg_scale": 7.0, "scheduler": "dpmpp_2m",
            "model": {"name": "dreamshaper-8", "hash": "blake3:abc", "base": "sd-1"},
            "loras": [{"model": {"name": "paintstyle", "key": "k1"}, "weight": 0.75}], "app_version": "4.2.9"}
    r = inspect_bytes(png_with_text({"invokeai_metadata": json.dumps(meta), "invokeai_graph": "{}"}), settings=META_ONLY)
    p = only(r, "invokeai")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.seed, p.steps, p.cfg, p.scheduler, p.width, p.height) == (31337, 30, 7.0, "dpmpp_2m", 768, 512)
    assert (p.model, p.model_hash, p.version) == ("dreamshaper-8", "blake3:abc", "4.2.9")
    assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle", 0.75)]


def test_invokeai_v2_sd_metadata_splits_bracketed_negative():
    meta = {"model": "stable diffusion", "model_weights": "stable-diffusion-1.5", "model_hash": "cc6cb27103",
            "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
            "image": {"prompt": [{"prompt": f"{POSITIVE} [{NEGATIVE}]", "weight": 1.0}], "steps": 50, "cfg_scale": 7.5,
                      "seed": 42, "width": 512, "height": 512, "sampler": "k_lms"}}
    p = only(inspect_bytes(png_with_text({"sd-metadata": json.dumps(meta)}), settings=META_ONLY), "invokeai")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.model, p.steps, p.seed, p.sampler) == ("stable-diffusion-1.5", 50, 42, "k_lms")


def test_invokeai_dream_command():
    dream = f'"{POSITIVE} [{NEGATIVE}]" -s 50 -S 12345 -W 512 -H 640 -C 7.5 -A k_lms'
    p = only(inspect_bytes(png_with_text({"Dream": dream}), settings=META_ONLY), "invokeai")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.steps, p.seed, p.width, p.height, p.cfg, p.sampler) == (50, 12345, 512, 640, 7.5, "k_lms")


def test_invokeai_invalid_json_note():
    r = inspect_bytes(png_with_text({"invokeai_metadata": "[1, 2"}), settings=META_ONLY)
    assert any("invokeai" in n for n in r.notes) and not r.positive_prompts()


# --- Fooocus, SwarmUI ----------------------------------------------------------------------------

FOOOCUS = {"adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion", "base_model_hash": "aeb7e9e689",
           "full_negative_prompt": [NEGATIVE, "unrealistic"], "full_prompt": [POSITIVE, "cinematic, soft light"],
           "guidance_scale": 4.0, "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
           "metadata_scheme": "fooocus", "negative_prompt": NEGATIVE, "performance": "Speed", "prompt": POSITIVE,
           "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": "1234",
           "sharpness": 2.0, "steps": 30, "styles": "['Fooocus V2']", "version": "Fooocus v2.5.5"}


def test_fooocus_png_parameters_json():
    p = only(inspect_bytes(png_with_text({"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"}),
                           settings=META_ONLY), "fooocus")
    assert p.positive_prompts == [POSITIVE, "cinematic, soft light"]
    assert p.negative_prompts == [NEGATIVE, "unrealistic"]
    assert (p.seed, p.steps, p.cfg, p.width, p.height) == (1234, 30, 4.0, 1152, 896)
    assert (p.model, p.version) == ("juggernautXL_v8Rundiffusion", "Fooocus v2.5.5")
    assert [(lr.name, lr.weight) for lr in p.loras] == [("sd_xl_offset_example-lora_1.0.safetensors", 0.1)]


SWARM = {"sui_image_params": {"prompt": POSITIVE, "negativeprompt": NEGATIVE, "model": "OfficialStableDiffusion/sd_xl_base_1.0",
                              "seed": 1760293848, "steps": 20, "cfgscale": 7.0, "width": 1024, "height": 1024,
                              "sampler": "euler", "scheduler": "normal", "loras": ["paintstyle"], "loraweights": ["0.6"],
                              "swarm_version": "0.9.4.0"}, "sui_extra_data": {"date": "2025-01-01", "generation_time": "1.2 s"}}


def test_swarmui_png_and_jpeg():
    for data in (png_with_text({"parameters": json.dumps(SWARM)}),
                 jpeg_with_segments([(0xE1, b"Exif\x00\x00" + exif_bytes({}, exif_ifd_tags={0x9286: user_comment_unicode(json.dumps(SWARM))}))])):
        p = only(inspect_bytes(data, settings=META_ONLY), "swarmui")
        assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
        assert (p.seed, p.steps, p.cfg, p.width, p.model, p.version) == (1760293848, 20, 7.0, 1024,
                                                                          "OfficialStableDiffusion/sd_xl_base_1.0", "0.9.4.0")
        assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle", 0.6)]


# --- Draw Things (XMP) and generic traces --------------------------------------------------------

DRAWTHINGS_JSON = {"c": POSITIVE, "uc": NEGATIVE, "model": "sd_xl_base_1.0_f16.ckpt", "seed": 2718281, "steps": 30,
                   "scale": 5.5, "sampler": "DPM++ 2M Karras", "size": "1024x768", "lora": [{"file": "paintstyle_f16.ckpt", "weight": 0.6}]}


def drawthings_xmp(comment: str) -> str:
    return xmp_packet(
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>Draw Things</xmp:CreatorTool></rdf:Description>'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"><exif:UserComment><rdf:Alt>'
        f'<rdf:li xml:lang="x-default">{comment}</rdf:li></rdf:Alt></exif:UserComment></rdf:Description>')


def test_drawthings_xmp_in_png_itxt():
    from prov_builders import insert_chunks_after_idat
    base = png_with_text({})
    xml = drawthings_xmp(json.dumps(DRAWTHINGS_JSON).replace("&", "&amp;").replace("<", "&lt;"))
    r = inspect_bytes(insert_chunks_after_idat(base, itxt_chunk("XML:com.adobe.xmp", xml)), settings=META_ONLY)
    p = only(r, "drawthings")
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.model, p.seed, p.steps, p.cfg, p.sampler, p.width, p.height) == (
        "sd_xl_base_1.0_f16.ckpt", 2718281, 30, 5.5, "DPM++ 2M Karras", 1024, 768)
    assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle_f16.ckpt", 0.6)]


DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def dst_xmp(code: str, as_attribute: bool = False) -> bytes:
    if as_attribute:
        desc = f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="{DST}{code}"/>'
    else:
        desc = ('<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
                f'<Iptc4xmpExt:DigitalSourceType>{DST}{code}</Iptc4xmpExt:DigitalSourceType></rdf:Description>')
    return xmp_packet(desc).encode("utf-8")


@pytest.mark.parametrize("code,ai", [("trainedAlgorithmicMedia", True), ("compositeWithTrainedAlgorithmicMedia", True),
                                     ("algorithmicMedia", False), ("digitalCapture", False)])
@pytest.mark.parametrize("as_attribute", [False, True])
def test_generic_digital_source_type_in_jpeg_xmp(code, ai, as_attribute):
    data = jpeg_with_segments([(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + dst_xmp(code, as_attribute))])
    r = inspect_bytes(data, settings=META_ONLY)
    p = only(r, "generic")
    assert p.ai_generated is ai and r.ai_generated is ai
    assert p.extra["digital_source_types"] == [code]
    assert any(s.category == "ai_generated" for s in r.signals()) is ai


def test_generic_software_names():
    r = inspect_bytes(png_with_text({"Software": "GIMP 2.10"}), settings=META_ONLY)
    assert r.provenances == [] and r.software == ["GIMP 2.10"] and not r.ai_generated
    r = inspect_bytes(png_with_text({"Software": "Adobe Firefly"}), settings=META_ONLY)
    assert only(r, "generic").ai_generated and r.ai_generated


def test_generic_iptc_credit_in_jpeg_app13():
    value = b"Made with Google AI"
    iim = b"\x1c\x02\x6e" + len(value).to_bytes(2, "big") + value
    res = b"8BIM" + (0x0404).to_bytes(2, "big") + b"\x00\x00" + len(iim).to_bytes(4, "big") + iim + b"\x00" * (len(iim) % 2)
    r = inspect_bytes(jpeg_with_segments([(0xED, b"Photoshop 3.0\x00" + res)]), settings=META_ONLY)
    p = only(r, "generic")
    assert p.ai_generated and p.sources["generator"] == "iptc:Credit"


def test_webp_xmp_chunk_digital_source_type():
    exif = exif_bytes({0x0131: "test"})
    r = inspect_bytes(webp_with_exif(b"Exif\x00\x00" + exif, xmp=dst_xmp("trainedAlgorithmicMedia")), settings=META_ONLY)
    assert only(r, "generic").ai_generated


def test_plain_image_has_no_provenance_and_no_signals():
    r = inspect_bytes(png_with_text({}), settings=ProvenanceSettings(decode_pixels=False))
    assert r.provenances == [] and r.signals() == [] and not r.ai_generated and r.notes == [
        "pixels not decoded (decode_pixels is off): watermark and stealth not checked"]


# --- Easy Diffusion ------------------------------------------------------------------------------


def test_easydiffusion_png_keys_not_mistaken_for_comfyui():
    keys = {"prompt": POSITIVE, "negative_prompt": NEGATIVE, "seed": "2468", "use_stable_diffusion_model": "sd-v1-5",
            "num_inference_steps": "25", "guidance_scale": "7.5", "sampler_name": "euler_a", "width": "512",
            "height": "640", "use_lora_model": "paintstyle", "lora_alpha": "0.5"}
    r = inspect_bytes(png_with_text(keys), settings=META_ONLY)
    assert [p.family for p in r.provenances] == ["easydiffusion"]
    assert r.notes == []
    p = r.provenances[0]
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE]
    assert (p.seed, p.steps, p.cfg, p.sampler, p.model, p.width, p.height) == (2468, 25, 7.5, "euler_a", "sd-v1-5", 512, 640)
    assert [(lr.name, lr.weight) for lr in p.loras] == [("paintstyle", 0.5)]


def test_filename_prefixes_notes():
    r = inspect_bytes(png_with_text({"invokeai_metadata": "[1, 2"}), filename="upload-17.png", settings=META_ONLY)
    assert r.notes and all(n.startswith("upload-17.png: ") for n in r.notes)
