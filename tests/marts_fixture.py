"""A small, fully known warehouse for the dashboard and API tests: landing rows written here,
the marts built from them by the real dbt project (values checked by hand in
tests/e2e/test_hand_computed_marts.py, which reaches the same marts through Spark).

ZIP 98101 (WA) holds six clinicians whose medical schools (and one specialty) are the
spreadsheet-formula payloads of contract section 7, for the export tests."""

from __future__ import annotations

import subprocess

import psycopg

from medidash.orchestration.dbt_env import dbt_command
from medidash.warehouse.schema import LANDING_TABLES

LANDING_SQL = """
insert into landing.procedure_events
 (data_year, npi, state, zip5, hcpcs_code, event_count, service_units, submitted_charge,
  allowed_amount, paid_amount, standardized_amount, loaded_at) values
 (2023,'1111111111','CA','94110','99213',38,42.5,5700.00,3800.00,3040.00,2964.00,now()),
 (2023,'1111111111','CA','94110','J1100',18,400,90.00,36.00,28.80,null,now()),
 (2023,'2222222222','CA','94110','99213',14,14,2100.00,1400.00,1120.00,1092.00,now()),
 (2023,'2222222222','CA','94110','0002A',30,30,1200.00,1200.00,1200.00,1170.00,now()),
 (2023,'3333333333','NY','10001','99213',11,11,1650.00,1100.00,880.00,858.00,now()),
 (2023,'3333333333','NY','10001','J1100',12,50,25.00,10.00,8.00,null,now()),
 (2022,'1111111111','CA','94110','99213',7,7,1050.00,700.00,560.00,546.00,now());
insert into landing.hcpcs_codes values
 (2023,'99213','Office visit 15',false,now()),
 (2023,'J1100','Dexamethasone 1 mg',true,now()),
 (2023,'0002A','Covid vaccine admin',false,now()),
 (2022,'99213','Office visit 15',false,now());
insert into landing.provider_locations values
 (2023,'1111111111','CA','94110',3,now()),
 (2023,'2222222222','CA','94110',2,now()),
 (2023,'3333333333','NY','10001',2,now()),
 (2022,'1111111111','CA','94110',1,now());
insert into landing.prescription_events values
 (2023,'1111111111','CA','ATORVASTATIN CALCIUM',50,1500,340.80,now()),
 (2023,'4444444444','MA','LEVOTHYROXINE SODIUM',15,450,30,now()),
 (2023,'5555555555','TX','METFORMIN HCL',40,1200,80,now()),
 (2023,'3333333333','NY','ATORVASTATIN CALCIUM',11,330,100,now());
insert into landing.clinician_rows values
 (2023,'1111111111','INTERNAL MEDICINE','STANFORD','0840459889','BAY CLINIC','CA','94110',1,now()),
 (2023,'1111111111','FAMILY PRACTICE','STANFORD','0000000123','CITY GROUP','NY','10001',1,now()),
 (2023,'2222222222','INTERNAL MEDICINE','UNKNOWN','0840459889','Bay Clinic','CA','94110',1,now()),
 (2023,'2222222222','INTERNAL MEDICINE','UNKNOWN','0840459889','BAY CLINIC','CA','94110',1,now()),
 (2023,'3333333333','CARDIOVASCULAR DISEASE (CARDIOLOGY)','OTHER','0000000123','CITY GROUP',
  'NY','10001',1,now()),
 (2023,'4444444444','NURSE PRACTITIONER','OTHER',null,null,'MA','02134',1,now()),
 (2023,'6666666666','UNKNOWN','UNIVERSIDAD DE PUERTO RICO',null,null,'PR','00901',1,now()),
 (2022,'1111111111','INTERNAL MEDICINE','STANFORD','0840459889','BAY CLINIC','CA','94110',1,now()),
 (2023,'7000000001','INTERNAL MEDICINE','=1+2',null,null,'WA','98101',1,now()),
 (2023,'7000000002','INTERNAL MEDICINE','@SUM(1+1)',null,null,'WA','98101',1,now()),
 (2023,'7000000003','INTERNAL MEDICINE','+1',null,null,'WA','98101',1,now()),
 (2023,'7000000004','@SUM(1+1)','-1+1',null,null,'WA','98101',1,now()),
 (2023,'7000000005','INTERNAL MEDICINE',E'\t=1',null,null,'WA','98101',1,now()),
 (2023,'7000000006','INTERNAL MEDICINE',E'\r=1',null,null,'WA','98101',1,now());
insert into landing.hospital_affiliations values
 (2023,'1111111111','050001','Hospital',null,now()),
 (2023,'2222222222','050001','Hospital',null,now()),
 (2023,'3333333333','335678','Skilled nursing facility',null,now()),
 (2023,'1111111111','335678','Skilled nursing facility',null,now());
insert into landing.provider_rows
 (data_year, dataset, npi, last_name, first_name, provider_type, entity_type, state, zip5,
  row_count, loaded_at) values
 (2023,'part_b','1111111111','Garcia','Maria','Internal Medicine','I','CA','94110',2,now()),
 (2023,'part_b','2222222222','Chen','Wei','Internal Medicine','I','CA','94110',2,now()),
 (2023,'part_b','3333333333','Okafor','Ngozi','Cardiology','I','NY','10001',2,now()),
 (2023,'part_d','1111111111','Garcia','Maria','Internal Medicine',null,'CA',null,1,now()),
 (2023,'part_d','3333333333','Okafor','Ngozi','Cardiology',null,'NY',null,1,now()),
 (2023,'part_d','4444444444','Walsh','Erin','Nurse Practitioner',null,'MA',null,1,now()),
 (2023,'part_d','5555555555','Lone Star Pharmacy Group',null,'Pharmacist',null,'TX',null,1,now()),
 (2023,'clinicians','1111111111','Garcia','Maria',null,null,null,null,2,now()),
 (2023,'clinicians','4444444444','Walsh','Erin',null,null,null,null,1,now()),
 (2022,'part_b','1111111111','Garcia','Maria','Internal Medicine','I','CA','94110',1,now());
insert into landing.mips_scores values
 (2023,'1111111111',90,now()), (2023,'2222222222',null,now()), (2023,'3333333333',70,now());
insert into ops.pipeline_runs values
 ('fixture',2023,'tests/marts_fixture.py','2026-11-01 10:00+00','2026-11-01 10:05+00','success',
  'fixture',null);
"""


def build(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in LANDING_TABLES:
            conn.execute(f"truncate landing.{table}")
        conn.execute("delete from ops.pipeline_runs where run_id = 'fixture'")
        conn.execute(LANDING_SQL)
    command, env = dbt_command(["build", "--quiet"], url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
